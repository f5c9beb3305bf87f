import Foundation
import Primitives

#if canImport(Glibc)
import Glibc
#endif

/// Which addresses an outgoing webhook may connect to. Cloud Run's metadata server hands out service-account
/// tokens to anything that reaches it, so the address actually connected to is checked, not only the URL.
public enum SSRFGuard {
    /// True when `address` (IPv4 or IPv6 text) is not a globally reachable unicast address: loopback, private,
    /// link-local (169.254.169.254 included), CGNAT, ULA, unspecified, multicast, reserved, anything else in IANA's
    /// special-purpose registries, or a translated or tunnelled form (NAT64, 6to4, Teredo; an IPv4-mapped address is judged by its IPv4 address). Text that
    /// is not an address is blocked.
    public static func isBlocked(_ address: String) -> Bool {
        if let v4 = ipv4(address) { return isBlockedV4(v4) }
        guard let v6 = ipv6(address) else { return true }
        return isBlockedV6(v6)
    }

    /// IPv4: everything in IANA's special-purpose address registry that is not globally reachable, plus multicast
    /// and the reserved 240/4.
    static func isBlockedV4(_ a: [UInt8]) -> Bool {
        switch (a[0], a[1]) {
        case (0, _), (10, _), (127, _): return true  // this network, private, loopback
        case (100, 64...127): return true  // CGNAT
        case (169, 254): return true  // link-local, metadata
        case (172, 16...31), (192, 168): return true  // private
        case (192, 0) where a[2] == 0 || a[2] == 2: return true  // IETF protocol assignments, TEST-NET-1
        case (192, 31) where a[2] == 196, (192, 52) where a[2] == 193: return true  // AS112-v4, AMT
        case (192, 88) where a[2] == 99, (192, 175) where a[2] == 48: return true  // 6to4 relay anycast, AS112 direct
        case (198, 18...19): return true  // benchmarking
        case (198, 51) where a[2] == 100, (203, 0) where a[2] == 113: return true  // TEST-NET-2/3
        case (224...255, _): return true  // multicast, reserved, broadcast
        default: return false
        }
    }

    /// IPv6: IANA's special-purpose registry (loopback, unspecified, IPv4-mapped and -compatible, NAT64 in both its
    /// well-known `64:ff9b::/96` and local-use `64:ff9b:1::/48` prefixes, discard-only, the IETF protocol assignments
    /// `2001::/23` with Teredo, benchmarking and ORCHID, documentation, 6to4, AS112, ULA, link- and site-local,
    /// segment routing) and multicast. An address that embeds an IPv4 address is judged by that address too.
    static func isBlockedV6(_ a: [UInt8]) -> Bool {
        let prefix10 = a[0..<10].allSatisfy { $0 == 0 }
        if prefix10 && a[10] == 0xFF && a[11] == 0xFF { return isBlockedV4(Array(a[12..<16])) }  // ::ffff:a.b.c.d (IPv4-mapped)
        if a[0..<12].allSatisfy({ $0 == 0 }) { return true }  // ::, ::1, ::a.b.c.d (deprecated compatible)
        if a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xFF && a[3] == 0x9B { return true }  // NAT64 64:ff9b::/96, 64:ff9b:1::/48
        if a[0] == 0x01 && a[1..<8].allSatisfy({ $0 == 0 }) { return true }  // discard-only 100::/64
        if a[0] == 0x20 && a[1] == 0x01 && a[2] & 0xFE == 0x00 { return true }  // 2001::/23: Teredo, benchmarking, ORCHID
        if a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0D && a[3] == 0xB8 { return true }  // documentation 2001:db8::/32
        if a[0] == 0x3F && a[1] == 0xFF && a[2] & 0xF0 == 0x00 { return true }  // documentation 3fff::/20
        if a[0] == 0x20 && a[1] == 0x02 { return true }  // 6to4 2002::/16 (it reaches any IPv4 address through a relay)
        if a[0..<6] == [0x26, 0x20, 0x00, 0x4F, 0x80, 0x00] { return true }  // AS112-v6 2620:4f:8000::/48
        if a[0] == 0x5F && a[1] == 0x00 { return true }  // SRv6 SIDs 5f00::/16
        if a[0] & 0xFE == 0xFC { return true }  // ULA fc00::/7
        if a[0] == 0xFE && a[1] & 0xC0 == 0x80 { return true }  // link-local fe80::/10
        if a[0] == 0xFE && a[1] & 0xC0 == 0xC0 { return true }  // site-local (deprecated)
        if a[0] == 0xFF { return true }  // multicast
        return false
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        IPAddress(text).flatMap { $0.isIPv4 ? $0.bytes : nil }
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        IPAddress(text).flatMap { $0.isIPv4 ? nil : $0.bytes }
    }

    /// True when `host` is an IPv4 or IPv6 address rather than a name.
    public static func isAddressLiteral(_ host: String) -> Bool {
        ipv4(host) != nil || ipv6(host) != nil
    }

    /// Resolves `host` to its addresses (numeric hosts resolve to themselves). Blocking: call it off the
    /// event loop.
    public static func resolve(_ host: String) -> [String] {
        if ipv4(host) != nil || ipv6(host) != nil { return [host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(result) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            if entry.pointee.ai_family == AF_INET, let raw = entry.pointee.ai_addr {
                raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    var address = pointer.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
                }
            } else if entry.pointee.ai_family == AF_INET6, let raw = entry.pointee.ai_addr {
                raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    var address = pointer.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
                }
            }
            let text = String(cString: buffer)
            if !text.isEmpty && !addresses.contains(text) { addresses.append(text) }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}
