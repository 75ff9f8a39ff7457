//! The bot token: validated once, never shown.

use std::fmt;

/// The bot token, without its `Bot ` prefix. `Debug` never shows it and it has no `Display`:
/// the only way to the text is [`Token::expose`], for the gateway and HTTP clients.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Validates a token as an operator gives it: with or without the `Bot ` prefix, no
    /// whitespace or control characters inside.
    pub fn new(token: &str) -> Result<Self, TokenError> {
        let token = token.trim();
        let bare = token.strip_prefix("Bot ").unwrap_or(token).trim();
        if bare.is_empty() {
            return Err(TokenError::Empty);
        }
        if bare.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::Whitespace);
        }
        Ok(Self(bare.to_owned()))
    }

    /// The token itself, for the gateway and HTTP clients only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Nothing after the `Bot ` prefix.
    #[error("is empty: give the bot token from the developer portal")]
    Empty,
    /// Whitespace or control characters inside: a copy-paste went wrong.
    #[error("contains whitespace: give the bot token from the developer portal, as one word")]
    Whitespace,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_prefix_and_never_shows() {
        let token = Token::new(" Bot secret.token ").unwrap();
        assert_eq!(token.expose(), "secret.token");
        assert!(!format!("{token:?}").contains("secret"));
        assert_eq!(Token::new("   "), Err(TokenError::Empty));
        assert_eq!(
            Token::new("Bot  x").map(|t| t.expose().to_owned()),
            Ok("x".to_owned())
        );
        assert_eq!(Token::new("a b"), Err(TokenError::Whitespace));
        assert_eq!(Token::new("a\u{0}b"), Err(TokenError::Whitespace));
    }
}
