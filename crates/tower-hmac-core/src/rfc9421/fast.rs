//! The common shape of `Signature-Input` and `Signature`, read without `sfv`: one member, no
//! whitespace but one space between components, strings without escapes, integers. It is what
//! clients send (`http-message-signatures`, this crate's signer), and it costs a fraction of the
//! general parser, which builds owned items. Anything else returns `None` and goes to the
//! general parser ([`super::parse`]), which decides; what this reader accepts it reads as that
//! parser does (a test compares them over generated fields).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::parse::{Component, ComponentParams, Params as _, SignatureInput, Value};

/// A reader over a field's text.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek() == Some(byte);
        self.at += usize::from(matched);
        matched
    }

    /// The bytes from here on.
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or_default()
    }

    /// Advances over `len` bytes, returning them as text.
    fn take(&mut self, len: usize) -> Option<&'a str> {
        let text = self.text.get(self.at..self.at + len)?;
        self.at += len;
        Some(text)
    }

    /// An RFC 8941 key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
    fn key(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        if !matches!(rest.first(), Some(b'a'..=b'z' | b'*')) {
            return None;
        }
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'))
            .unwrap_or(rest.len());
        self.take(len)
    }

    /// A string without escapes (`"`, then visible ASCII or space but `"` and `\`, then `"`).
    /// `None` at an escape: the general parser undoes it.
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let len = self
            .rest()
            .iter()
            .position(|&b| !(0x20..=0x7e).contains(&b) || b == b'"' || b == b'\\')?;
        let text = self.take(len)?;
        self.eat(b'"').then_some(text)
    }

    /// An integer of 1 to 15 digits, not negative, not the start of a decimal.
    fn integer(&mut self) -> Option<i64> {
        let rest = self.rest();
        let len = rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        if len == 0 || len > 15 || rest.get(len) == Some(&b'.') {
            return None;
        }
        let digits = self.take(len)?;
        // Fifteen digits cannot overflow an i64.
        Some(digits.bytes().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    }

    /// A parameter's value: a string or an integer (any other type goes to the general parser).
    fn value(&mut self) -> Option<Value<'a>> {
        match self.peek()? {
            b'"' => self.string().map(|s| Value::String(Cow::Borrowed(s))),
            b'0'..=b'9' => self.integer().map(Value::Integer),
            _ => None,
        }
    }

    /// `;key=value`, when the next byte is `;`.
    fn parameter(&mut self) -> Option<Option<(&'a str, Value<'a>)>> {
        if !self.eat(b';') {
            return Some(None);
        }
        let key = self.key()?;
        // A key without a value is a boolean: the general parser's.
        if !self.eat(b'=') {
            return None;
        }
        Some(Some((key, self.value()?)))
    }
}

/// Signature-Input of one member, `label=("…" "…");key=value…`, the label the server's when it
/// names one. `None`: not this shape, for the general parser.
pub(super) fn signature_input<'a>(
    text: &'a str,
    label: Option<&str>,
) -> Option<SignatureInput<'a>> {
    let mut c = Cursor { text, at: 0 };
    let key = c.key()?;
    if label.is_some_and(|l| l != key) || !c.eat(b'=') || !c.eat(b'(') {
        return None;
    }
    let mut input = SignatureInput {
        label: key,
        ..SignatureInput::default()
    };
    if !c.eat(b')') {
        loop {
            let name = c.string()?;
            let mut params = ComponentParams::default();
            while let Some((key, value)) = c.parameter()? {
                params.note(key, value);
            }
            input.items.push(Component {
                name: Some(Cow::Borrowed(name)),
                params,
            });
            if c.eat(b')') {
                break;
            }
            if !c.eat(b' ') {
                return None;
            }
        }
    }
    while let Some((key, value)) = c.parameter()? {
        input.note_param(key, value);
    }
    c.rest().is_empty().then_some(input)
}

/// Signature of one member, `label=:<Base64 of 32 bytes>:`, the Base64 canonical (padded, no
/// stray bits). `None`: not this shape, for the general parser.
pub(super) fn signature_bytes(text: &str, label: &str) -> Option<[u8; 32]> {
    let encoded = text
        .strip_prefix(label)?
        .strip_prefix("=:")?
        .strip_suffix(':')?;
    if encoded.len() != 44 {
        return None;
    }
    // The decoder wants room for 33 bytes from 44 characters.
    let mut decoded = [0; 33];
    let len = STANDARD.decode_slice(encoded, &mut decoded).ok()?;
    decoded.get(..len)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::super::parse::{serialize_inner_list, signature_bytes_sfv, signature_input_sfv};
    use super::*;

    /// A small deterministic generator (xorshift): the same fields on every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Pieces a field is made of: valid ones, and every near miss the fast reader must leave to
    /// the general parser (whitespace, escapes, other types, repeated names, decimals, signs,
    /// over-long integers, a second member).
    const PIECES: &[&str] = &[
        "sig1",
        "sig2",
        "*x",
        "Sig",
        "=",
        "(",
        ")",
        " ",
        "  ",
        "\t",
        ",",
        ", ",
        ";",
        "\"@method\"",
        "\"@path\"",
        "\"@query-param\"",
        "\"content-digest\"",
        "\"a\\\"b\"",
        "\"x\\\\y\"",
        "\"\"",
        "\"é\"",
        "name",
        "name=\"q\"",
        "name=\"q\"",
        "created",
        "created=1700000000",
        "=007",
        "=-1",
        "=1.5",
        "=123456789012345",
        "=1234567890123456",
        "keyid",
        "keyid=\"k\"",
        "nonce=\"n\"",
        "alg=\"hmac-sha256\"",
        "tag",
        "tag=\"t\"",
        "expires=1",
        "foo=1",
        "=?1",
        "=tok",
        "=:AAAA:",
        "=@1",
        "=%\"x\"",
        "\"",
        // The string's range at its edges, a lone `*` key, an upper-case letter inside a key,
        // a space after `;`, `==`, fifteen digits with leading zeros, a parameter on an item
        // that is not `name`, labels longer and shorter than `sig1`.
        "\" !#[]~\"",
        "\"\x7f\"",
        "*",
        "aB",
        "; created=1",
        "==",
        "=000000000000001",
        "=999999999999999",
        ";x=\"y\"",
        ";created=1",
        "sig1x",
        "sig",
    ];

    fn valid() -> String {
        "sig1=(\"@method\" \"@authority\" \"@query-param\";name=\"id\");created=1700000000;\
         keyid=\"app-1\";nonce=\"abc\";alg=\"hmac-sha256\";tag=\"t\""
            .to_owned()
    }

    /// Fields made of pieces, and the valid field with one to three bytes changed.
    fn fields() -> Vec<String> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut fields = Vec::new();
        for _ in 0..40_000 {
            let n = 1 + rng.below(12);
            let mut field = String::new();
            if rng.below(2) == 0 {
                field.push_str("sig1=(");
            }
            for _ in 0..n {
                field.push_str(PIECES[rng.below(PIECES.len())]);
            }
            fields.push(field);
        }
        let alphabet = b"()\";= ,\\-.:?*0123456789aAz@\t";
        for _ in 0..40_000 {
            let mut field = valid().into_bytes();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(field.len());
                match rng.below(3) {
                    0 => {
                        field.remove(at);
                    }
                    1 => field.insert(at, alphabet[rng.below(alphabet.len())]),
                    _ => field[at] = alphabet[rng.below(alphabet.len())],
                }
            }
            fields.push(String::from_utf8(field).unwrap());
        }
        fields
    }

    #[test]
    fn what_the_fast_reader_accepts_it_reads_as_sfv_does() {
        let mut read = 0;
        for field in fields() {
            for label in [None, Some("sig1")] {
                if let Some(fast) = signature_input(&field, label) {
                    read += 1;
                    let general = signature_input_sfv(&field, label)
                        .unwrap_or_else(|e| panic!("{field:?}: sfv refuses it: {e:?}"));
                    assert_eq!(fast, general, "{field:?}");
                }
            }
        }
        // The generator reaches the fast path often, not only its refusals.
        assert!(read > 10_000, "{read}");
    }

    #[test]
    fn the_fast_reader_takes_the_common_shape_and_leaves_the_rest() {
        let field = valid();
        let fast = signature_input(&field, None).unwrap();
        assert_eq!(fast.label, "sig1");
        assert_eq!(fast.items.len(), 3);
        assert_eq!(
            fast.items[2].params.name,
            Some(Value::String(Cow::Borrowed("id")))
        );
        assert_eq!(fast.params.len(), 5);
        for other in [
            " sig1=(\"@method\");created=1",
            "sig1=( \"@method\");created=1",
            "sig1=(\"@method\")  ;created=1",
            "sig1=(\"@method\");created=1, sig2=()",
            "sig1=(\"a\\\"b\");created=1",
            "sig1=(\"@method\");created=1.5",
            "sig1=(\"@method\");created=-1",
            "sig1=(\"@method\");created",
            "sig1=(\"@method\");created=?1",
        ] {
            assert!(signature_input(other, None).is_none(), "{other}");
        }
        // A component parameter given twice keeps its last value, on both paths (RFC 8941's
        // parameters; `ComponentParams::note` decides for both).
        let twice = "sig1=(\"@query-param\";name=\"a\";name=\"b\")";
        let b = Some(Value::String(Cow::Borrowed("b")));
        assert_eq!(
            signature_input(twice, None).unwrap().items[0].params.name,
            b
        );
        assert_eq!(
            signature_input_sfv(twice, None).unwrap().items[0]
                .params
                .name,
            b
        );
        assert!(signature_input(&valid(), Some("sig2")).is_none());
    }

    #[test]
    fn what_the_fast_reader_takes_of_signature_sfv_reads_the_same() {
        use base64::engine::general_purpose::STANDARD_NO_PAD;
        let mut rng = Rng(7);
        let mut read = 0;
        for _ in 0..20_000 {
            let bytes: Vec<u8> = (0..30 + rng.below(5))
                .map(|_| rng.below(256) as u8)
                .collect();
            let mut encoded = if rng.below(2) == 0 {
                STANDARD.encode(&bytes)
            } else {
                STANDARD_NO_PAD.encode(&bytes)
            };
            if rng.below(3) == 0 {
                let at = rng.below(encoded.len());
                let b64 = b"AQgw+/=:";
                encoded.replace_range(at..at + 1, &(b64[rng.below(b64.len())] as char).to_string());
            }
            let label = ["sig1", "sig2"][rng.below(2)];
            let tail = ["", ";x=1", ", sig3=:AAAA:", " "][rng.below(4)];
            let field = format!("{label}=:{encoded}:{tail}");
            if let Some(fast) = signature_bytes(&field, "sig1") {
                read += 1;
                assert_eq!(
                    Ok(fast),
                    signature_bytes_sfv(&field, "sig1").map_err(|_| ()),
                    "{field}"
                );
            }
        }
        assert!(read > 100, "{read}");
        // Unpadded or with stray bits: the general parser's (it accepts both).
        let unpadded = format!("sig1=:{}:", STANDARD_NO_PAD.encode([1; 32]));
        assert!(signature_bytes(&unpadded, "sig1").is_none());
        assert_eq!(signature_bytes_sfv(&unpadded, "sig1").ok(), Some([1; 32]));
    }

    #[test]
    fn signature_params_are_serialized_as_sfv_serializes_them() {
        use super::super::credentials::Rfc9421Credentials;
        let mut compared = 0;
        let escapes = [
            "sig1=(\"@method\" \"a\\\"b\");created=1;keyid=\"k\";tag=\"x\\\\y\\\"z\"",
            "sig1=(\"@query-param\";name=\"a\\\"\");created=0;nonce=\"n\"",
        ];
        for field in fields().iter().map(String::as_str).chain(escapes) {
            // What the scheme's checks refuse before serializing is left out.
            let Ok(list) = signature_input_sfv(field, None) else {
                continue;
            };
            if list.unknown || list.repeated || list.items.iter().any(|i| i.params.other) {
                continue;
            }
            let Some(creds) = Rfc9421Credentials::new(&list, "k", None, 0, None, [0; 32]) else {
                continue;
            };
            let dict = sfv::Parser::new(field).parse::<sfv::Dictionary>().unwrap();
            let Some(sfv::ListEntry::InnerList(inner)) = dict.get(list.label) else {
                panic!("{field}");
            };
            assert_eq!(creds.params(), serialize_inner_list(inner), "{field}");
            compared += 1;
        }
        assert!(compared > 1_000, "{compared}");
    }
}
