//! The server's stdio, framed by hand: no bytes a client sends stop the
//! server. A frame that cannot be read (no `Content-Length`, a body that is
//! not UTF-8, not JSON, a batch, not a JSON-RPC message) is answered with a
//! JSON-RPC error (`id: null` when it has none) and logged (`tracing`), and the
//! next frame is read as usual. Lone UTF-16 surrogates in strings (which
//! JavaScript clients can send) become U+FFFD instead of failing the frame.

use std::io::{self, BufRead, Read, Write};

use crossbeam_channel::{bounded, Sender};
use lsp_server::{Connection, ErrorCode, Message};
use serde_json::Value;

/// How many messages the reader may read ahead of the server.
const READ_AHEAD: usize = 4096;

/// The largest body read; a longer one is skipped and answered with an error
/// (reading it whole would let one frame take all the memory).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// What [`read_frame`] found.
#[derive(Debug)]
pub enum Frame {
    /// A message.
    Message(Message),
    /// A frame that is no message: the error that answers it.
    Bad(BadFrame),
    /// The end of the input.
    End,
}

/// A frame that could not be read as a message, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadFrame {
    /// The frame's `id`, when it has one (else the answer's is `null`).
    pub id: Option<Value>,
    /// The JSON-RPC error code.
    pub code: i32,
    pub message: String,
}

impl BadFrame {
    /// The JSON-RPC error answering it.
    pub fn answer(&self) -> Value {
        serde_json::json!({
            "jsonrpc": "2.0",
            "id": self.id.clone().unwrap_or(Value::Null),
            "error": { "code": self.code, "message": self.message },
        })
    }
}

/// A connection over stdin and stdout, and the two threads that move the
/// bytes; join them after the server returns.
pub fn stdio() -> (Connection, IoThreads) {
    let (server_sender, server_receiver) = bounded::<Message>(0);
    let (bad_sender, bad_receiver) = bounded::<BadFrame>(16);
    let writer = std::thread::spawn(move || -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        let never = crossbeam_channel::never();
        let mut bad = Some(bad_receiver);
        loop {
            crossbeam_channel::select! {
                recv(server_receiver) -> m => match m {
                    Ok(m) => m.write(&mut stdout)?,
                    Err(_) => return Ok(()),
                },
                recv(bad.as_ref().unwrap_or(&never)) -> b => match b {
                    Ok(b) => write_frame(&mut stdout, &b.answer().to_string())?,
                    // The reader is done: only the server's messages are left.
                    Err(_) => bad = None,
                },
            }
        }
    });
    // Room to read ahead: the server drains what is waiting before analysing,
    // so a burst of edits is analysed once (with no room, the reader handed
    // over one message at a time and every edit was analysed on its own).
    let (reader_sender, reader_receiver) = bounded::<Message>(READ_AHEAD);
    let reader = std::thread::spawn(move || -> io::Result<()> {
        let mut stdin = io::stdin().lock();
        pump(&mut stdin, &reader_sender, &bad_sender)
    });
    let connection = Connection {
        sender: server_sender,
        receiver: reader_receiver,
    };
    (connection, IoThreads { reader, writer })
}

fn write_frame(out: &mut impl Write, text: &str) -> io::Result<()> {
    write!(out, "Content-Length: {}\r\n\r\n{text}", text.len())?;
    out.flush()
}

/// Reads frames from `input` until it ends (or the server stops listening):
/// messages go to `messages`, bad frames to `bad` (to be answered), each logged.
pub fn pump(input: &mut impl BufRead, messages: &Sender<Message>, bad: &Sender<BadFrame>) -> io::Result<()> {
    loop {
        match read_frame(input)? {
            Frame::Message(m) => {
                if messages.send(m).is_err() {
                    return Ok(());
                }
            }
            Frame::Bad(b) => {
                tracing::warn!(error = %b.message, "a frame of the client was answered with an error");
                if bad.send(b).is_err() {
                    return Ok(());
                }
            }
            Frame::End => return Ok(()),
        }
    }
}

/// The reader and writer threads of [`stdio`].
pub struct IoThreads {
    reader: std::thread::JoinHandle<io::Result<()>>,
    writer: std::thread::JoinHandle<io::Result<()>>,
}

impl IoThreads {
    /// Waits for the writer to flush what the server sent. The reader is not
    /// waited for: it may be blocked on a stdin the client keeps open.
    pub fn join(self) -> Result<(), String> {
        drop(self.reader);
        match self.writer.join() {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("the writer thread panicked".to_string()),
        }
    }
}

/// The longest header line read as one; longer lines are read in pieces.
const MAX_HEADER_LINE: u64 = 8 * 1024;

/// Reads one frame: headers up to a blank line (lines may end in `\r\n` or
/// `\n`), then `Content-Length` bytes. Lines that are not headers (what is
/// left of a frame that could not be read) are skipped and logged; a
/// `Content-Length` header later on such a line starts the next frame.
/// Errors are only those of reading.
pub fn read_frame(input: &mut impl BufRead) -> io::Result<Frame> {
    let mut length: Option<Result<usize, String>> = None;
    let mut headers = 0usize;
    let mut skipped = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input
            .by_ref()
            .take(MAX_HEADER_LINE)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            if skipped > 0 {
                tracing::warn!(bytes = skipped, "bytes that are no frame were skipped");
            }
            return Ok(Frame::End);
        }
        let decoded = String::from_utf8_lossy(&line);
        let mut text = decoded.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if headers == 0 {
                continue;
            }
            break;
        }
        if !is_header(text) {
            let at = text.to_ascii_lowercase().find("content-length:");
            skipped += at.unwrap_or(n);
            match at.and_then(|at| text.get(at..)) {
                Some(rest) => text = rest,
                None => continue,
            }
        }
        headers += 1;
        if let Some((name, value)) = text.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                let value = value.trim();
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("`Content-Length: {value}` is not a length")),
                );
            }
        }
    }
    if skipped > 0 {
        tracing::warn!(bytes = skipped, "bytes that are no frame were skipped");
    }
    let length = match length {
        Some(Ok(n)) => n,
        Some(Err(e)) => return Ok(bad(None, ErrorCode::ParseError, e)),
        None => {
            return Ok(bad(
                None,
                ErrorCode::ParseError,
                "a frame without a `Content-Length` header".into(),
            ))
        }
    };
    if length > MAX_BODY {
        io::copy(&mut input.by_ref().take(length as u64), &mut io::sink())?;
        return Ok(bad(
            None,
            ErrorCode::ParseError,
            format!("a frame of {length} bytes (at most {MAX_BODY} are read)"),
        ));
    }
    let mut body = Vec::with_capacity(length);
    input.by_ref().take(length as u64).read_to_end(&mut body)?;
    if body.len() < length {
        return Ok(Frame::End);
    }
    Ok(decode(body))
}

/// Whether a line is `Name: value` with a header's name.
fn is_header(line: &str) -> bool {
    line.split_once(':').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// The message a body holds, or the error that answers it.
pub fn decode(body: Vec<u8>) -> Frame {
    let text = match String::from_utf8(body) {
        Ok(t) => t,
        Err(_) => return bad(None, ErrorCode::ParseError, "the body is not UTF-8".into()),
    };
    let text = replace_lone_surrogates(&text);
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return bad(None, ErrorCode::ParseError, format!("the body is not JSON: {e}")),
    };
    if value.is_array() {
        return bad(
            None,
            ErrorCode::InvalidRequest,
            "batches are not part of the Language Server Protocol".into(),
        );
    }
    let id = value
        .get("id")
        .filter(|id| id.is_number() || id.is_string())
        .cloned();
    match serde_json::from_value::<Message>(value) {
        Ok(m) => Frame::Message(m),
        Err(e) => bad(
            id,
            ErrorCode::InvalidRequest,
            format!("not a JSON-RPC message: {e}"),
        ),
    }
}

fn bad(id: Option<Value>, code: ErrorCode, message: String) -> Frame {
    Frame::Bad(BadFrame {
        id,
        code: code as i32,
        message,
    })
}

/// `text` (JSON) with every `\uXXXX` escape of a lone UTF-16 surrogate
/// replaced by `\uFFFD`; escapes of a pair, and everything else, unchanged.
pub fn replace_lone_surrogates(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("\\u") {
        return text.into();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    let mut changed = false;
    let escape_at = |j: usize| -> Option<u16> {
        let hex = text.get(j + 2..j + 6)?;
        (bytes.get(j) == Some(&b'\\') && bytes.get(j + 1) == Some(&b'u'))
            .then(|| u16::from_str_radix(hex, 16).ok())
            .flatten()
    };
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        // An escape: `\\` is skipped whole, so `\\ud800` is not one.
        if bytes.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let Some(unit) = escape_at(i) else {
            i += 2;
            continue;
        };
        let lone = match unit {
            0xD800..=0xDBFF => match escape_at(i + 6) {
                Some(0xDC00..=0xDFFF) => {
                    i += 12;
                    continue;
                }
                _ => true,
            },
            0xDC00..=0xDFFF => true,
            _ => false,
        };
        if lone {
            out.push_str(&text[copied..i]);
            out.push_str("\\uFFFD");
            changed = true;
            copied = i + 6;
        }
        i += 6;
    }
    if !changed {
        return text.into();
    }
    out.push_str(&text[copied..]);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        f.extend_from_slice(body);
        f
    }

    const PING: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"textDocument/hover","params":{}}"#;

    /// Every frame of `input`: `Ok(method or id)` for messages, `Err(code)` for bad ones.
    fn frames(input: &[u8]) -> Vec<Result<String, i32>> {
        let mut r = input;
        let mut out = Vec::new();
        loop {
            match read_frame(&mut r).expect("reading memory") {
                Frame::Message(Message::Request(q)) => out.push(Ok(q.method)),
                Frame::Message(Message::Notification(n)) => out.push(Ok(n.method)),
                Frame::Message(Message::Response(p)) => out.push(Ok(format!("{:?}", p.id))),
                Frame::Bad(b) => out.push(Err(b.code)),
                Frame::End => return out,
            }
        }
    }

    #[test]
    fn bad_frames_are_answered_and_the_next_frame_is_read() {
        let parse = ErrorCode::ParseError as i32;
        let invalid = ErrorCode::InvalidRequest as i32;
        let hover = || Ok("textDocument/hover".to_string());
        type Case = (&'static str, Vec<u8>, Vec<Result<String, i32>>);
        let cases: Vec<Case> = vec![
            ("not JSON", frame(b"{not json"), vec![Err(parse)]),
            (
                "a batch",
                frame(br#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#),
                vec![Err(invalid)],
            ),
            ("not UTF-8", frame(b"{\"a\":\"\xff\xfe\"}"), vec![Err(parse)]),
            (
                "no message",
                frame(br#"{"jsonrpc":"2.0","id":4,"error":2}"#),
                vec![Err(invalid)],
            ),
            (
                "a bad length",
                b"Content-Length: ten\r\n\r\n".to_vec(),
                vec![Err(parse)],
            ),
            (
                "too long",
                b"Content-Length: 99999999999\r\n\r\n".to_vec(),
                vec![Err(parse)],
            ),
            (
                "no Content-Length, then a frame on the same line",
                [b"Content-Type: x\r\n\r\n{\"a\":1}".to_vec(), frame(PING)].concat(),
                vec![Err(parse), hover()],
            ),
            (
                "bare newlines",
                b"Content-Length: 2\n\n{}".to_vec(),
                vec![Err(invalid)],
            ),
            ("garbage", b"hello\r\nworld\r\n\r\n".to_vec(), vec![]),
            // Its length takes in the frame after it, which then is not JSON.
            (
                "a cut body",
                b"Content-Length: 50\r\n\r\n{\"a\"".to_vec(),
                vec![Err(parse)],
            ),
        ];
        for (what, bytes, expected) in cases {
            // Each is followed by a good frame, which is read — unless the
            // bad one's length claims it.
            let mut input = bytes.clone();
            input.extend(frame(PING));
            let mut want = expected.clone();
            if !["a cut body", "too long"].contains(&what) {
                want.push(hover());
            }
            assert_eq!(frames(&input), want, "{what}");
        }
    }

    #[test]
    fn input_that_ends_inside_a_frame_is_its_end() {
        assert_eq!(frames(b"Content-Length: 50\r\n\r\n{\"a\""), vec![]);
        assert_eq!(frames(b"Content-Length: 5\r\n"), vec![]);
    }

    #[test]
    fn a_bad_frame_is_answered_with_its_id_or_null() {
        let Frame::Bad(b) = decode(br#"{"jsonrpc":"2.0","id":4,"error":2}"#.to_vec()) else {
            panic!("not bad")
        };
        assert_eq!(b.answer()["id"], 4);
        let Frame::Bad(b) = decode(b"{".to_vec()) else {
            panic!("not bad")
        };
        assert_eq!(b.answer()["id"], Value::Null);
        assert_eq!(b.answer()["error"]["code"], ErrorCode::ParseError as i32);
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let cases = [
            (r#""a\ud800b""#, "a\u{fffd}b"),
            (r#""\udc00""#, "\u{fffd}"),
            (r#""\ud83d\ude00""#, "😀"),
            (r#""\ud83d\ud83d\ude00""#, "\u{fffd}😀"),
            (r#""\\ud800""#, "\\ud800"),
            (r#""\u00e9\ud800""#, "é\u{fffd}"),
            (r#""\ud800"#, ""),
        ];
        for (json, want) in cases {
            let fixed = replace_lone_surrogates(json);
            let got: String = serde_json::from_str(&fixed).unwrap_or_default();
            assert_eq!(got, want, "{json}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_end_without_a_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = frames(&bytes);
        }

        #[test]
        fn good_frames_survive_bad_bodies_between_them(bodies in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..80), 0..8)) {
            let mut input = Vec::new();
            for body in &bodies {
                input.extend(frame(body));
                input.extend(frame(PING));
            }
            let hovers = frames(&input).into_iter().filter(|f| f.as_deref() == Ok("textDocument/hover")).count();
            proptest::prop_assert!(hovers >= bodies.len());
        }

        #[test]
        fn text_with_surrogate_escapes_always_parses(units in proptest::collection::vec(0xD700u16..0xE100, 0..12)) {
            let json: String = std::iter::once("\"".to_string())
                .chain(units.iter().map(|u| format!("\\u{u:04x}")))
                .chain(std::iter::once("\"".to_string()))
                .collect();
            let fixed = replace_lone_surrogates(&json);
            proptest::prop_assert!(serde_json::from_str::<String>(&fixed).is_ok(), "{}", fixed);
        }
    }
}
