//! Encoding and decoding of NETLINK_ROUTE messages: the header, the fixed family headers
//! (`ifinfomsg`, `ifaddrmsg`, `rtmsg`) and type-length-value attributes. Numbers are the
//! kernel's stable ABI (`linux/netlink.h`, `linux/rtnetlink.h`, `linux/if_link.h`).

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_SETLINK: u16 = 19;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_GETROUTE: u16 = 26;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const IFF_UP: u32 = 0x1;

pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;
pub const IFLA_MASTER: u16 = 10;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_NET_NS_FD: u16 = 28;
pub const IFLA_INFO_KIND: u16 = 1;
pub const IFLA_INFO_DATA: u16 = 2;
pub const VETH_INFO_PEER: u16 = 1;

pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_BROADCAST: u16 = 4;

pub const RTA_DST: u16 = 1;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_TABLE: u16 = 15;
pub const RT_TABLE_MAIN: u8 = 254;
pub const RTPROT_BOOT: u8 = 3;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RTN_UNICAST: u8 = 1;

const NLA_HDRLEN: usize = 4;
const NLA_TYPE_MASK: u16 = 0x3fff;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Builds one request: header, family header, then attributes (possibly nested).
pub struct MessageBuilder {
    buf: Vec<u8>,
}

impl MessageBuilder {
    /// Starts a message of `kind` with `flags` (`NLM_F_REQUEST` is always added).
    pub fn new(kind: u16, flags: u16) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // sequence, patched in finish
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        Self { buf }
    }

    /// Appends `struct ifinfomsg`.
    pub fn ifinfomsg(mut self, family: u8, index: i32, flags: u32, change: u32) -> Self {
        push_ifinfomsg(&mut self.buf, family, index, flags, change);
        self
    }

    /// Appends `struct ifaddrmsg`.
    pub fn ifaddrmsg(mut self, prefix: u8, scope: u8, index: u32) -> Self {
        self.buf.extend_from_slice(&[AF_INET, prefix, 0, scope]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self
    }

    /// Appends `struct rtmsg` for an IPv4 unicast route in the main table.
    pub fn rtmsg(mut self, dst_len: u8, protocol: u8, scope: u8, kind: u8) -> Self {
        self.buf.extend_from_slice(&[AF_INET, dst_len, 0, 0, RT_TABLE_MAIN, protocol, scope, kind]);
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self
    }

    /// Appends raw bytes (a family header inside a nested attribute).
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    /// Appends one attribute.
    pub fn attr(mut self, kind: u16, value: &[u8]) -> Self {
        let len = NLA_HDRLEN + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
        self
    }

    /// Appends a NUL-terminated string attribute.
    pub fn attr_str(self, kind: u16, value: &str) -> Self {
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        self.attr(kind, &bytes)
    }

    /// Appends a u32 attribute in host byte order.
    pub fn attr_u32(self, kind: u16, value: u32) -> Self {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// Opens a nested attribute; close it with [`MessageBuilder::end_nest`].
    pub fn begin_nest(mut self, kind: u16) -> (Self, usize) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        (self, at)
    }

    /// Closes the nested attribute that starts at `at`.
    pub fn end_nest(mut self, at: usize) -> Self {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }

    /// Finishes the message with sequence number `seq`.
    pub fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// Encodes `struct ifinfomsg` (16 bytes).
pub fn push_ifinfomsg(buf: &mut Vec<u8>, family: u8, index: i32, flags: u32, change: u32) {
    buf.extend_from_slice(&[family, 0]);
    buf.extend_from_slice(&0u16.to_ne_bytes());
    buf.extend_from_slice(&index.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&change.to_ne_bytes());
}

/// One message read back from the kernel.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub kind: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into messages; a truncated tail is dropped.
pub fn messages(mut buf: &[u8]) -> Vec<Message<'_>> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            break;
        }
        out.push(Message {
            kind: u16::from_ne_bytes([buf[4], buf[5]]),
            seq: u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: &buf[NLMSG_HDRLEN..len],
        });
        buf = &buf[align4(len).min(buf.len())..];
    }
    out
}

/// Iterates over the attributes in `buf` as (type, value).
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < NLA_HDRLEN {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        if len < NLA_HDRLEN || len > buf.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        let value = &buf[NLA_HDRLEN..len];
        buf = &buf[align4(len).min(buf.len())..];
        Some((kind, value))
    })
}

/// Reads a u32 attribute value.
pub fn read_u32(value: &[u8]) -> Option<u32> {
    value.get(..4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a NUL-terminated string attribute value.
pub fn read_str(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).into_owned()
}

/// Reads the error code of an `NLMSG_ERROR` payload (0 is an acknowledgement).
pub fn read_error(payload: &[u8]) -> Option<i32> {
    payload.get(..4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_aligned_attributes_and_nests() {
        let (b, nest) = MessageBuilder::new(RTM_NEWLINK, NLM_F_CREATE)
            .ifinfomsg(AF_UNSPEC, 0, 0, 0)
            .attr_str(IFLA_IFNAME, "br0")
            .begin_nest(IFLA_LINKINFO);
        let msg = b.attr_str(IFLA_INFO_KIND, "bridge").end_nest(nest).finish(7);
        assert_eq!(msg.len() % 4, 0);
        let parsed = messages(&msg);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].kind, RTM_NEWLINK);
        assert_eq!(parsed[0].seq, 7);
        let found: Vec<_> = attrs(&parsed[0].payload[16..]).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, IFLA_IFNAME);
        assert_eq!(read_str(found[0].1), "br0");
        assert_eq!(found[1].0, IFLA_LINKINFO);
        let inner: Vec<_> = attrs(found[1].1).collect();
        assert_eq!(read_str(inner[0].1), "bridge");
    }

    #[test]
    fn malformed_input_stops_parsing_without_panicking() {
        assert!(messages(&[0xff; 20]).is_empty());
        assert_eq!(attrs(&[2, 0, 1, 0]).count(), 0);
        assert_eq!(attrs(&[8, 0, 1]).count(), 0);
        assert_eq!(read_u32(&[1, 2]), None);
    }
}
