//! Oozie's dates (`Fri, 10 Jan 2020 10:00:00 GMT`, asked for in GMT) as
//! edp writes times: `2020-01-10T10:00:00`, UTC.

use chrono::NaiveDateTime;

/// The date in edp's form; the text as it came when it is not in GMT.
pub fn iso(oozie: &str) -> String {
    NaiveDateTime::parse_from_str(oozie.trim(), "%a, %d %b %Y %H:%M:%S GMT")
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|_| oozie.to_string())
}

#[cfg(test)]
mod tests {
    use super::iso;

    #[test]
    fn gmt_dates_convert_and_others_stay() {
        assert_eq!(iso("Thu, 22 Jan 2015 02:57:51 GMT"), "2015-01-22T02:57:51");
        assert_eq!(iso("Wed, 04 May 2016 23:06:47 EST"), "Wed, 04 May 2016 23:06:47 EST");
    }
}
