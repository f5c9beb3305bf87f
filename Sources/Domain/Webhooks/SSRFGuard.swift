import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Which addresses an outgoing webhook may connect to. Cloud Run's metadata server hands out service-account
/// tokens to anything that reaches it, so the address actually connected to is checked, not only the URL.
public enum SSRFGuard {
    /// True when `address` (IPv4 or IPv6 text) is loopback, private, link-local (169.254.169.254 included),
    /// CGNAT, ULA, unspecified, multicast, reserved, or an IPv4-mapped/compatible, 6to4 or NAT64 form of one.
    public static func isBlocked(_ address: String) -> Bool {
        if let v4 = ipv4(address) { return isBlockedV4(v4) }
        guard let v6 = ipv6(address) else { return true }
        return isBlockedV6(v6)
    }

    static func isBlockedV4(_ a: [UInt8]) -> Bool {
        switch (a[0], a[1]) {
        case (0, _), (10, _), (127, _): return true
        case (100, 64...127): return true  // CGNAT
        case (169, 254): return true  // link-local, metadata
        case (172, 16...31), (192, 168): return true
        case (192, 0) where a[2] == 0 || a[2] == 2: return true  // IETF, TEST-NET-1
        case (198, 18...19): return true  // benchmarking
        case (198, 51) where a[2] == 100, (203, 0) where a[2] == 113: return true  // TEST-NET-2/3
        case (224...255, _): return true  // multicast, reserved, broadcast
        default: return false
        }
    }

    static func isBlockedV6(_ a: [UInt8]) -> Bool {
        let prefix10 = a[0..<10].allSatisfy { $0 == 0 }
        if prefix10 && a[10] == 0xFF && a[11] == 0xFF { return isBlockedV4(Array(a[12..<16])) }  // ::ffff:a.b.c.d
        if a[0..<12].allSatisfy({ $0 == 0 }) { return true }  // ::, ::1, ::a.b.c.d (deprecated compatible)
        if a[0] == 0x20 && a[1] == 0x02 { return isBlockedV4(Array(a[2..<6])) }  // 6to4 2002::/16
        if a[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] { return isBlockedV4(Array(a[12..<16])) }  // NAT64
        if a[0] & 0xFE == 0xFC { return true }  // ULA fc00::/7
        if a[0] == 0xFE && a[1] & 0xC0 == 0x80 { return true }  // link-local fe80::/10
        if a[0] == 0xFE && a[1] & 0xC0 == 0xC0 { return true }  // site-local (deprecated)
        if a[0] == 0xFF { return true }  // multicast
        if a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0D && a[3] == 0xB8 { return true }  // documentation
        if a[0] == 0x01 && a[1..<8].allSatisfy({ $0 == 0 }) { return true }  // discard-only 100::/64
        return false
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address.s_addr) { Array($0) }
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        let bare = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        guard inet_pton(AF_INET6, bare, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address) { Array($0) }
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
