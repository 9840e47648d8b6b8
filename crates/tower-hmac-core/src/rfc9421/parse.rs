//! Parsing `Signature-Input` and `Signature`: RFC 8941 dictionaries, each member name
//! once.

use std::borrow::Cow;
use std::fmt;

use http::HeaderName;
use http::request::Parts;

use arrayvec::ArrayVec;
use sfv::{Dictionary, Parser};

use super::{MAX_LABELS, malformed};
use crate::rejection::Rejection;

/// The one field line of `name`, as text within `max_len`.
pub(super) fn one_field<'a>(
    parts: &'a Parts,
    name: &HeaderName,
    max_len: usize,
) -> Result<&'a str, Rejection> {
    let mut values = parts.headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(malformed(
            "exactly one Signature-Input and one Signature header",
        ));
    };
    if value.len() > max_len {
        return Err(malformed("Signature-Input or Signature is too long"));
    }
    value
        .to_str()
        .map_err(|_| malformed("Signature-Input or Signature is not text"))
}

/// Parses a dictionary strictly: a member name appearing twice is refused (RFC 8941 would keep
/// the last one).
pub(super) fn dictionary(text: &str) -> Result<Dictionary, Rejection> {
    struct Labels<'de>(Seen<'de>);
    impl<'de> sfv::visitor::DictionaryVisitor<'de> for Labels<'de> {
        type Out = ();
        type Error = Strict;
        fn entry(
            &mut self,
            key: &'de sfv::KeyRef,
        ) -> Result<impl sfv::visitor::EntryVisitor<'de>, Strict> {
            note_member(&mut self.0, key)?;
            Ok(sfv::visitor::Ignored)
        }
        fn finish(self) -> Result<(), Strict> {
            Ok(())
        }
    }
    Parser::new(text)
        .parse_dictionary_with_visitor(Labels(Seen::new()))
        .map_err(not_a_dictionary)?;
    Parser::new(text)
        .parse::<Dictionary>()
        .map_err(|_| malformed("Signature-Input and Signature are RFC 8941 dictionaries"))
}

/// A one-pass parse of Signature-Input or Signature met a member name twice, or more than
/// [`MAX_LABELS`] members.
#[derive(Debug)]
struct Strict;

impl fmt::Display for Strict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a repeated member, or too many")
    }
}

impl std::error::Error for Strict {}

/// The member names seen so far: each once, at most [`MAX_LABELS`] (kept on the stack).
type Seen<'de> = ArrayVec<&'de sfv::KeyRef, MAX_LABELS>;

fn note_member<'de>(seen: &mut Seen<'de>, key: &'de sfv::KeyRef) -> Result<(), Strict> {
    if seen.contains(&key) {
        return Err(Strict);
    }
    seen.try_push(key).map_err(|_| Strict)
}

fn not_a_dictionary(_: sfv::Error) -> Rejection {
    malformed(
        "Signature-Input and Signature are RFC 8941 dictionaries, each label once, at most 16",
    )
}

/// The signature parameters a Signature-Input member may carry, in the order RFC 9421 §2.3
/// lists them (the client's order is kept separately).
pub(super) const SIGNATURE_PARAMS: [&str; 6] =
    ["created", "expires", "nonce", "alg", "keyid", "tag"];

/// A bare item as this scheme reads it: every parameter it accepts is an integer or a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value<'a> {
    Integer(i64),
    String(Cow<'a, str>),
    /// Any other type (token, decimal, boolean, byte sequence, date, display string).
    Other,
}

impl<'a> Value<'a> {
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Integer(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }

    fn from_sfv(bare: sfv::BareItemFromInput<'a>) -> Self {
        match bare {
            sfv::GenericBareItem::Integer(i) => Value::Integer(i64::from(i)),
            sfv::GenericBareItem::String(Cow::Borrowed(s)) => {
                Value::String(Cow::Borrowed(s.as_str()))
            }
            sfv::GenericBareItem::String(Cow::Owned(s)) => Value::String(Cow::Owned(s.into())),
            _ => Value::Other,
        }
    }
}

/// A covered component's parameters as RFC 8941 leaves them (a name given twice keeps its last
/// value): only `@query-param`'s `name` is supported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ComponentParams<'a> {
    /// The `name` parameter.
    pub(super) name: Option<Value<'a>>,
    /// A parameter other than `name`.
    pub(super) other: bool,
}

/// A covered component as parsed: the string naming it (`None` when the item is not a string)
/// and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Component<'a> {
    pub(super) name: Option<Cow<'a, str>>,
    pub(super) params: ComponentParams<'a>,
}

/// The inner list of the member a server verifies: its label, the covered components, and the
/// signature parameters in the client's order (no map: a parameter is one of six, each at most
/// once). Borrowed from the field's text wherever no escape had to be undone.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct SignatureInput<'a> {
    pub(super) label: &'a str,
    pub(super) items: Vec<Component<'a>>,
    pub(super) params: ArrayVec<(&'static str, Value<'a>), 6>,
    /// A parameter that is not one of [`SIGNATURE_PARAMS`].
    pub(super) unknown: bool,
    /// A parameter given twice.
    pub(super) repeated: bool,
}

impl<'a> SignatureInput<'a> {
    pub(super) fn param(&self, name: &str) -> Option<&Value<'a>> {
        self.params
            .iter()
            .find_map(|(k, v)| (*k == name).then_some(v))
    }

    /// Notes one signature parameter: kept when known and new, flagged otherwise.
    pub(super) fn note_param(&mut self, key: &str, value: Value<'a>) {
        match SIGNATURE_PARAMS.iter().find(|known| **known == key) {
            Some(known) if self.params.iter().any(|(k, _)| k == known) => self.repeated = true,
            Some(known) => self.params.push((known, value)),
            None => self.unknown = true,
        }
    }
}

/// Collects the items of the inner list, then its signature parameters.
struct InnerListInto<'a, 'de>(&'a mut SignatureInput<'de>);

impl<'de> sfv::visitor::InnerListVisitor<'de> for InnerListInto<'_, 'de> {
    type Error = Strict;
    fn item(&mut self) -> Result<impl sfv::visitor::ItemVisitor<'de>, Strict> {
        Ok(ItemInto(&mut self.0.items))
    }
    fn finish(self) -> Result<impl sfv::visitor::ParameterVisitor<'de>, Strict> {
        Ok(ParamsInto(self.0))
    }
}

/// Appends an item, then collects its parameters.
struct ItemInto<'a, 'de>(&'a mut Vec<Component<'de>>);

impl<'de> sfv::visitor::ItemVisitor<'de> for ItemInto<'_, 'de> {
    type Out = ();
    type Error = Strict;
    fn bare_item(
        self,
        bare: sfv::BareItemFromInput<'de>,
    ) -> Result<impl sfv::visitor::ParameterVisitor<'de, Out = ()>, Strict> {
        let name = match Value::from_sfv(bare) {
            Value::String(s) => Some(s),
            _ => None,
        };
        self.0.push(Component {
            name,
            params: ComponentParams::default(),
        });
        let last = self.0.len() - 1;
        Ok(ParamsInto(&mut self.0[last].params))
    }
}

/// What keeps the parameters of an item or of the inner list (the fast reader's too).
pub(super) trait Params<'de> {
    fn note(&mut self, key: &str, value: Value<'de>);
}

impl<'de> Params<'de> for SignatureInput<'de> {
    fn note(&mut self, key: &str, value: Value<'de>) {
        self.note_param(key, value);
    }
}

/// A component's parameters: a name given twice keeps its last value, as RFC 8941's
/// parameters do.
impl<'de> Params<'de> for ComponentParams<'de> {
    fn note(&mut self, key: &str, value: Value<'de>) {
        if key == "name" {
            self.name = Some(value);
        } else {
            self.other = true;
        }
    }
}

/// Collects parameters.
struct ParamsInto<'a, T>(&'a mut T);

impl<'de, T: Params<'de>> sfv::visitor::ParameterVisitor<'de> for ParamsInto<'_, T> {
    type Out = ();
    type Error = Strict;
    fn parameter(
        &mut self,
        key: &'de sfv::KeyRef,
        value: sfv::BareItemFromInput<'de>,
    ) -> Result<(), Strict> {
        self.0.note(key.as_str(), Value::from_sfv(value));
        Ok(())
    }
    fn finish(self) -> Result<(), Strict> {
        Ok(())
    }
}

/// The Signature-Input member our label names: an inner list.
struct InputMember<'a, 'de>(&'a mut Option<SignatureInput<'de>>, &'de str);

impl<'de> sfv::visitor::EntryVisitor<'de> for InputMember<'_, 'de> {
    type Error = Strict;
    fn item(self) -> Result<impl sfv::visitor::ItemVisitor<'de>, Strict> {
        // Left `None`: refused as the wrong shape once the parse ends.
        Ok(sfv::visitor::Ignored)
    }
    fn inner_list(self) -> Result<impl sfv::visitor::InnerListVisitor<'de>, Strict> {
        Ok(InnerListInto(self.0.insert(SignatureInput {
            label: self.1,
            ..SignatureInput::default()
        })))
    }
}

/// Signature-Input in one pass (issue 16: it was parsed twice, then re-serialized from a copy):
/// each member name once, at most [`MAX_LABELS`]; the inner list of `label`, or of the one
/// member when the server names no label. The common shape (one member, no whitespace, strings
/// without escapes, integers) is read by [`super::fast`] without `sfv`; anything else here.
pub(super) fn signature_input<'a>(
    text: &'a str,
    label: Option<&str>,
) -> Result<SignatureInput<'a>, Rejection> {
    if let Some(input) = super::fast::signature_input(text, label) {
        return Ok(input);
    }
    signature_input_sfv(text, label)
}

/// [`signature_input`] by `sfv`, for any dictionary RFC 8941 allows.
pub(super) fn signature_input_sfv<'a>(
    text: &'a str,
    label: Option<&str>,
) -> Result<SignatureInput<'a>, Rejection> {
    /// Our member: `Some(None)` when it is not an inner list.
    type Found<'de> = Option<Option<SignatureInput<'de>>>;
    struct Inputs<'de, 'l> {
        label: Option<&'l str>,
        seen: Seen<'de>,
        found: Found<'de>,
    }
    impl<'de> sfv::visitor::DictionaryVisitor<'de> for Inputs<'de, '_> {
        type Out = (usize, Found<'de>);
        type Error = Strict;
        fn entry(
            &mut self,
            key: &'de sfv::KeyRef,
        ) -> Result<impl sfv::visitor::EntryVisitor<'de>, Strict> {
            note_member(&mut self.seen, key)?;
            let ours = self.label.is_none_or(|l| l == key.as_str()) && self.found.is_none();
            Ok(ours.then(|| InputMember(self.found.insert(None), key.as_str())))
        }
        fn finish(self) -> Result<Self::Out, Strict> {
            Ok((self.seen.len(), self.found))
        }
    }
    let (members, found) = Parser::new(text)
        .parse_dictionary_with_visitor(Inputs {
            label,
            seen: Seen::new(),
            found: None,
        })
        .map_err(not_a_dictionary)?;
    if label.is_none() && members != 1 {
        return Err(malformed("exactly one signature per request"));
    }
    match found {
        Some(Some(list)) => Ok(list),
        Some(None) => Err(malformed("a Signature-Input member is an inner list")),
        None if label.is_some() => Err(malformed("no signature with the server's label")),
        None => Err(malformed("exactly one signature per request")),
    }
}

/// The 32-byte signature of `label` in Signature, in one pass (issue 16: it was parsed twice):
/// each member name once, at most [`MAX_LABELS`]; the label's member a byte sequence without
/// parameters.
pub(super) fn signature_bytes(text: &str, label: &str) -> Result<[u8; 32], Rejection> {
    if let Some(bytes) = super::fast::signature_bytes(text, label) {
        return Ok(bytes);
    }
    signature_bytes_sfv(text, label)
}

/// [`signature_bytes`] by `sfv`, for any dictionary RFC 8941 allows.
pub(super) fn signature_bytes_sfv(text: &str, label: &str) -> Result<[u8; 32], Rejection> {
    /// `Some(None)`: our member, of the wrong shape.
    type Found = Option<Option<[u8; 32]>>;
    struct Member<'a>(&'a mut Option<[u8; 32]>);
    impl<'de> sfv::visitor::EntryVisitor<'de> for Member<'_> {
        type Error = Strict;
        fn item(self) -> Result<impl sfv::visitor::ItemVisitor<'de>, Strict> {
            Ok(Bytes(self.0))
        }
        fn inner_list(self) -> Result<impl sfv::visitor::InnerListVisitor<'de>, Strict> {
            Ok(sfv::visitor::Ignored)
        }
    }
    /// The member's value: kept when a byte sequence of 32 bytes.
    struct Bytes<'a>(&'a mut Option<[u8; 32]>);
    impl<'de> sfv::visitor::ItemVisitor<'de> for Bytes<'_> {
        type Out = ();
        type Error = Strict;
        fn bare_item(
            self,
            bare: sfv::BareItemFromInput<'de>,
        ) -> Result<impl sfv::visitor::ParameterVisitor<'de, Out = ()>, Strict> {
            *self.0 = bare
                .as_byte_sequence()
                .and_then(|s| <[u8; 32]>::try_from(s).ok());
            Ok(NoParams(self.0))
        }
    }
    /// Any parameter makes the signature the wrong shape.
    struct NoParams<'a>(&'a mut Option<[u8; 32]>);
    impl<'de> sfv::visitor::ParameterVisitor<'de> for NoParams<'_> {
        type Out = ();
        type Error = Strict;
        fn parameter(
            &mut self,
            _: &'de sfv::KeyRef,
            _: sfv::BareItemFromInput<'de>,
        ) -> Result<(), Strict> {
            *self.0 = None;
            Ok(())
        }
        fn finish(self) -> Result<(), Strict> {
            Ok(())
        }
    }
    struct Signatures<'de, 'l> {
        label: &'l str,
        seen: Seen<'de>,
        found: Found,
    }
    impl<'de> sfv::visitor::DictionaryVisitor<'de> for Signatures<'de, '_> {
        type Out = Found;
        type Error = Strict;
        fn entry(
            &mut self,
            key: &'de sfv::KeyRef,
        ) -> Result<impl sfv::visitor::EntryVisitor<'de>, Strict> {
            note_member(&mut self.seen, key)?;
            Ok((key.as_str() == self.label).then(|| Member(self.found.insert(None))))
        }
        fn finish(self) -> Result<Found, Strict> {
            Ok(self.found)
        }
    }
    let found = Parser::new(text)
        .parse_dictionary_with_visitor(Signatures {
            label,
            seen: Seen::new(),
            found: None,
        })
        .map_err(not_a_dictionary)?;
    match found {
        Some(Some(bytes)) => Ok(bytes),
        Some(None) => Err(malformed("the signature is a byte sequence of 32 bytes")),
        None => Err(malformed("Signature has no byte sequence for the label")),
    }
}

/// An inner list with its parameters as `sfv` serializes it (RFC 8941 §4.1.1.1): what a signer
/// sends and signs as `@signature-params`, and what the verifier's hand serializer must match.
pub(super) fn serialize_inner_list(inner: &sfv::InnerList) -> String {
    let mut text = String::new();
    let mut serializer = sfv::ListSerializer::with_buffer(&mut text);
    let mut members = serializer.inner_list();
    for item in &inner.items {
        let _ = members.bare_item(&item.bare_item).parameters(&item.params);
    }
    let _ = members.finish().parameters(&inner.params);
    let _ = serializer.finish();
    text
}
