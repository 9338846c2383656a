//! A small blocking HTTP/1.1 client for the admin endpoint: one request per connection,
//! `Content-Length` bodies only (what `http.rs` serves).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context};

/// A response whose body is still to be read.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-Length`.
    pub length: u64,
    body: BufReader<TcpStream>,
}

impl Response {
    /// The whole body as text.
    pub fn text(mut self) -> anyhow::Result<String> {
        let mut s = String::new();
        (&mut self.body).take(self.length).read_to_string(&mut s)?;
        Ok(s)
    }

    /// The body, to stream.
    pub fn body(self) -> impl Read {
        let length = self.length;
        self.body.take(length)
    }
}

/// Sends `method path` to `server` (`host:port`) and reads the response head.
pub fn request(server: &str, method: &str, path: &str, wait: Duration) -> anyhow::Result<Response> {
    let addr = server
        .to_socket_addrs()
        .with_context(|| format!("--server {server} is not an address"))?
        .next()
        .with_context(|| format!("--server {server} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("cannot connect to the orbit admin endpoint at {server}"))?;
    stream.set_read_timeout(Some(wait))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {server}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )?;
    let mut body = BufReader::with_capacity(1 << 20, stream);
    let mut line = String::new();
    body.read_line(&mut line)
        .with_context(|| format!("no answer from {server} to {method} {path}"))?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("{server} answered {method} {path} with \"{}\"", line.trim()))?;
    let mut length = None;
    loop {
        line.clear();
        if body.read_line(&mut line)? == 0 {
            bail!("{server} closed the connection in the response head");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<u64>().ok();
            }
        }
    }
    let length = length.with_context(|| format!("{server} sent no content-length"))?;
    Ok(Response {
        status,
        length,
        body,
    })
}

/// A request whose answer must be `200`; returns the body text.
pub fn call(server: &str, method: &str, path: &str, wait: Duration) -> anyhow::Result<String> {
    let r = request(server, method, path, wait)?;
    let status = r.status;
    let text = r.text()?;
    if status != 200 {
        bail!("{method} {path} failed: {status} {}", text.trim());
    }
    Ok(text)
}
