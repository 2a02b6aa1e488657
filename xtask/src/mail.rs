//! `cargo xtask mail [ID]`: the emails the running `dev` stack has sent (moto's SES keeps
//! them): recipient, subject and time, newest last; each also written as
//! `.local/mail/<id>.html`, to open in a browser. With an id, one email in full.
//!
//! moto keeps no send time: it comes from the notifier's marker of the email (the table's
//! `MAIL#…` items, which also carry the message id).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use local::notifications::SentEmail;

use crate::cli::Options;
use crate::stack::{self, StackInfo};

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut opts = Options::new("mail", args);
    let positional = opts.positional();
    opts.finish()?;
    if positional.len() > 1 {
        bail!("usage: cargo xtask mail [ID]");
    }
    let root = crate::project_root();
    let info = stack::read_stack_file(&root)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (emails, times) = runtime.block_on(read(&info))?;
    let dir = root.join(".local").join("mail");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for email in &emails {
        write_html(&dir, email)?;
    }
    match positional.first() {
        None => {
            if emails.is_empty() {
                println!("No email sent yet. Place and pay an order (see `cargo xtask pay`), then look again.");
                return Ok(());
            }
            println!("{:<24}  {:<34}  {:<84}  ID", "SENT (UTC)", "TO", "SUBJECT");
            for email in &emails {
                let time = times.get(&email.id).map_or("-", String::as_str);
                println!("{:<24}  {:<34}  {:<84}  {}", time, email.to.join(", "), email.subject, email.id);
            }
            println!("\n{} email(s); each is in {}/<id>.html", emails.len(), dir.display());
        }
        Some(id) => {
            let Some(email) = emails.iter().find(|e| &e.id == id) else {
                bail!("no email with id {id}: `cargo xtask mail` lists them");
            };
            println!("From:    {}", email.from);
            println!("To:      {}", email.to.join(", "));
            println!("Subject: {}", email.subject);
            println!("Sent:    {}", times.get(&email.id).map_or("-", String::as_str));
            println!("HTML:    {}\n", dir.join(format!("{}.html", file_name(&email.id))).display());
            println!("{}", text_of(&email.body));
        }
    }
    Ok(())
}

/// The sent emails, and the send time of each (by message id) from its marker.
async fn read(info: &StackInfo) -> anyhow::Result<(Vec<SentEmail>, HashMap<String, String>)> {
    let emails = local::notifications::sent_emails(&info.aws_endpoint_url)
        .await
        .with_context(|| format!("reading the sent emails from moto at {}", info.aws_endpoint_url))
        .context("is `cargo xtask dev` running?")?;
    let aws =
        local::provision::sdk_config_with_dynamodb(&info.aws_endpoint_url, &info.dynamodb_endpoint_url, &info.region)
            .await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let mut times = HashMap::new();
    let mut pages = dynamodb
        .scan()
        .table_name(&info.table_name)
        .filter_expression("entity = :mail AND attribute_exists(message_id)")
        .expression_attribute_values(":mail", AttributeValue::S("mail".into()))
        .projection_expression("message_id, sent_at")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("reading the email markers from the table")?;
        for item in page.items.unwrap_or_default() {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            if let (Some(id), Some(at)) = (text("message_id"), text("sent_at")) {
                times.insert(id, at);
            }
        }
    }
    Ok((emails, times))
}

/// moto's ids are letters, digits and dashes; anything else is dropped from a file name.
fn file_name(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

fn write_html(dir: &Path, email: &SentEmail) -> anyhow::Result<()> {
    let path = dir.join(format!("{}.html", file_name(&email.id)));
    let body = if email.body.trim_start().starts_with('<') {
        email.body.clone()
    } else {
        format!("<!DOCTYPE html><meta charset=\"utf-8\"><pre>{}</pre>", escape(&email.body))
    };
    std::fs::write(&path, body).with_context(|| format!("cannot write {}", path.display()))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A terminal reading of an HTML body: tags dropped, entities of the escaper undone, blank
/// runs squeezed.
fn text_of(html: &str) -> String {
    let html = html.split_once("<body").and_then(|(_, body)| body.split_once('>')).map_or(html, |(_, body)| body);
    let mut out = String::new();
    let mut in_tag = false;
    let mut tag = String::new();
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name =
                    tag.trim_start_matches('/').split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
                match name.as_str() {
                    "br" | "p" | "h1" | "tr" => out.push('\n'),
                    "td" | "th" => out.push(' '),
                    _ => {}
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    let out = out
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let mut lines: Vec<String> = Vec::new();
    for line in out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")) {
        if line.is_empty() && lines.last().is_none_or(String::is_empty) {
            continue;
        }
        lines.push(line);
    }
    lines.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_body_reads_as_text() {
        let html = "<html><body><h1>Payment received</h1><p>Hello Ada &#38; Bob,</p>\n\n<table><tr><td>Mug</td><td>€24.00</td></tr></table></body>";
        assert_eq!(text_of(html), "Payment received\n\nHello Ada & Bob,\n\nMug €24.00");
        assert_eq!(file_name("abc-123/../x"), "abc-123x");
    }
}
