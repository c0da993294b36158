//! A small element tree written out with quick-xml (which escapes text and
//! attributes), and the Hadoop configuration XML Oozie takes on submission.

use edp_engine_api::plugin::{Error, Result};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// One element: attributes, then text or child elements.
#[derive(Debug, Clone, PartialEq)]
pub struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: Option<String>,
    children: Vec<El>,
}

impl El {
    pub fn new(name: &str) -> Self {
        Self { name: name.into(), attrs: Vec::new(), text: None, children: Vec::new() }
    }

    /// `<name>text</name>`.
    pub fn text(name: &str, text: impl Into<String>) -> Self {
        Self { text: Some(text.into()), ..Self::new(name) }
    }

    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attrs.push((name.into(), value.into()));
        self
    }

    pub fn child(mut self, child: El) -> Self {
        self.children.push(child);
        self
    }

    pub fn children(mut self, children: impl IntoIterator<Item = El>) -> Self {
        self.children.extend(children);
        self
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let mut start = BytesStart::new(self.name.as_str());
        for (k, v) in &self.attrs {
            start.push_attribute((k.as_str(), v.as_str()));
        }
        if self.children.is_empty() && self.text.as_deref().is_none_or(str::is_empty) {
            return w.write_event(Event::Empty(start));
        }
        w.write_event(Event::Start(start))?;
        if let Some(text) = &self.text {
            w.write_event(Event::Text(BytesText::new(text)))?;
        }
        for child in &self.children {
            child.write(w)?;
        }
        w.write_event(Event::End(BytesEnd::new(self.name.as_str())))
    }

    /// The whole document, indented, with an XML declaration.
    pub fn document(&self) -> String {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        let written =
            w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None))).and_then(|()| self.write(&mut w));
        // Writing into a Vec cannot fail.
        debug_assert!(written.is_ok());
        let mut text = String::from_utf8(w.into_inner()).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// `<configuration><property><name/><value/></property>...</configuration>`.
pub fn configuration(properties: &[(String, String)]) -> El {
    El::new("configuration").children(
        properties
            .iter()
            .map(|(name, value)| El::new("property").child(El::text("name", name)).child(El::text("value", value))),
    )
}

/// XML 1.0 cannot carry most control characters, escaped or not: refuse
/// them before they make Oozie reject the document.
pub fn check_text(what: &str, text: &str) -> Result<()> {
    match text.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        Some(c) => Err(Error::invalid_input(format!(
            "{what} holds the control character U+{:04X}, which XML cannot carry",
            c as u32
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_empty_elements_close() {
        let doc = El::new("a")
            .attr("x", "1\"2")
            .child(El::text("b", "<&>"))
            .child(El::new("c"))
            .child(configuration(&[("k".into(), "v&w".into())]))
            .document();
        assert!(doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), "{doc}");
        assert!(doc.contains("<a x=\"1&quot;2\">"), "{doc}");
        assert!(doc.contains("<b>&lt;&amp;&gt;</b>"), "{doc}");
        assert!(doc.contains("<c/>"), "{doc}");
        assert!(doc.contains("<name>k</name>") && doc.contains("<value>v&amp;w</value>"), "{doc}");
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(check_text("x", "tab\tnewline\n").is_ok());
        assert!(check_text("x", "bell\u{7}").is_err());
    }
}
