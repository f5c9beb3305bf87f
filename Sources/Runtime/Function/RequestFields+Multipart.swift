import Foundation
import MultipartKit
import NIOCore
import NIOHTTP1

extension RequestFields {
    /// The text fields of a `multipart/form-data` body, read by MultipartKit's parser; file parts are not fields
    /// (DRF puts them in `request.FILES`). A part that never ends is not a field.
    static func multipart(_ body: Data, contentType: String) throws(Failure) -> [String: Value] {
        let boundary = try boundary(of: contentType)
        var values: [String: Value] = [:]
        var headers = HTTPHeaders()
        var content = ByteBuffer()
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in headers.add(name: name, value: value) }
        parser.onBody = { chunk in content.writeBuffer(&chunk) }
        parser.onPartComplete = {
            let part = MultipartPart(headers: headers, body: content)
            let disposition = headers.first(name: "Content-Disposition")?.lowercased() ?? ""
            if let name = part.name, !disposition.contains("filename=") {
                values[name] = .string(String(buffer: content))
            }
            headers = HTTPHeaders()
            content = ByteBuffer()
        }
        do {
            try parser.execute(ByteBuffer(bytes: body))
        } catch {
            throw .malformedMultipart
        }
        return values
    }

    /// The `boundary` parameter of a multipart content type (quoted or not; 1 to 200 bytes).
    static func boundary(of contentType: String) throws(Failure) -> String {
        guard let parameter = contentType.split(separator: ";").dropFirst()
            .map({ $0.trimmingCharacters(in: .whitespaces) })
            .first(where: { $0.lowercased().hasPrefix("boundary=") })
        else { throw .malformedMultipart }
        var boundary = String(parameter.dropFirst("boundary=".count))
        if boundary.hasPrefix("\""), boundary.hasSuffix("\""), boundary.count >= 2 { boundary = String(boundary.dropFirst().dropLast()) }
        guard !boundary.isEmpty, boundary.utf8.count <= 200 else { throw .malformedMultipart }
        return boundary
    }
}
