//! multipart/form-data bodies, read strictly: the endpoint's replies with files and its
//! follow-up edits must be exactly what Discord parses (CRLF line ends, the boundary from
//! the content type, every part named, the closing delimiter last).

/// One part of a multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// How a multipart body breaks the format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed multipart body: {0}")]
pub struct MultipartError(&'static str);

/// Splits a multipart/form-data body into its parts.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .ok_or(MultipartError(
            "the content type is not multipart/form-data with a boundary",
        ))?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut at = find(body, delimiter.as_bytes(), 0).ok_or(MultipartError("no boundary"))?;
    if at != 0 {
        return Err(MultipartError("the body does not start with the boundary"));
    }
    loop {
        at += delimiter.len();
        if body[at..].starts_with(b"--") {
            // The closing delimiter ends the body (a final CRLF is optional, RFC 2046).
            return if matches!(&body[at + 2..], b"" | b"\r\n") {
                Ok(parts)
            } else {
                Err(MultipartError("data after the closing boundary"))
            };
        }
        if !body[at..].starts_with(b"\r\n") {
            return Err(MultipartError("no CRLF after a boundary"));
        }
        at += 2;
        let headers_end =
            find(body, b"\r\n\r\n", at).ok_or(MultipartError("part headers do not end"))?;
        let headers = std::str::from_utf8(&body[at..headers_end])
            .map_err(|_| MultipartError("part headers are not text"))?;
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), headers_end)
            .ok_or(MultipartError("a part does not end with a boundary"))?;
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            body: body[headers_end + 4..next].to_vec(),
        };
        for line in headers.split("\r\n") {
            let (name, value) = line
                .split_once(": ")
                .ok_or(MultipartError("a part header is not `name: value`"))?;
            match name.to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    if !value.starts_with("form-data") {
                        return Err(MultipartError("a part is not form-data"));
                    }
                    for attr in value.split("; ").skip(1) {
                        let (k, v) = attr
                            .split_once('=')
                            .ok_or(MultipartError("a disposition attribute has no value"))?;
                        let v = v.trim_matches('"').to_owned();
                        match k {
                            "name" => part.name = v,
                            "filename" => part.filename = Some(v),
                            _ => {}
                        }
                    }
                }
                "content-type" => part.content_type = Some(value.to_owned()),
                _ => {}
            }
        }
        if part.name.is_empty() {
            return Err(MultipartError("a part has no name"));
        }
        parts.push(part);
        at = next + 2;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_interactions::reply::{File, multipart};

    #[test]
    fn reads_what_the_endpoint_writes() {
        let (content_type, body) = multipart(
            br#"{"type":4}"#,
            &[File {
                name: "heatmap.png".into(),
                content_type: "image/png",
                description: None,
                bytes: vec![1, 2, 3],
            }],
        );
        let parts = parse_multipart(&content_type, &body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "payload_json");
        assert_eq!(parts[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(parts[0].body, br#"{"type":4}"#);
        assert_eq!(parts[1].filename.as_deref(), Some("heatmap.png"));
        assert_eq!(parts[1].body, vec![1, 2, 3]);
    }

    #[test]
    fn refuses_what_discord_would_not_read() {
        let ct = "multipart/form-data; boundary=zz";
        let part = "Content-Disposition: form-data; name=\"a\"\r\n\r\nx";
        assert_eq!(parse_multipart(ct, b"--zz--"), Ok(Vec::new()));
        assert!(parse_multipart(ct, format!("--zz\r\n{part}\r\n--zz--\r\n").as_bytes()).is_ok());
        for bad in [
            format!("--zz\n{part}\r\n--zz--"),
            format!("--zz\r\n{part}\r\n--zz--tail"),
            format!(" --zz\r\n{part}\r\n--zz--"),
            format!("--zz\r\n{part}"),
            "--zz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--zz--".to_owned(),
        ] {
            assert!(parse_multipart(ct, bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_multipart("multipart/form-data", b"--zz--").is_err());
    }
}
