import Foundation

/// A small, valid PDF 1.4 summary of an alert: one or more A4 pages of Helvetica text, no dependencies.
///
/// Text is written as WinAnsi-encoded literal strings (characters outside Latin-1 become `?`), wrapped at a
/// fixed width, with a correct cross-reference table so any reader (and `pdftotext`) opens it.
public enum AlertPDF {
    /// The PDF bytes for `title` and `lines` (each wrapped to fit the page).
    public static func render(title: String, lines: [String]) -> Data {
        let wrapped = lines.flatMap { wrap($0, width: 90) }
        let perPage = 60
        let pages = stride(from: 0, to: max(wrapped.count, 1), by: perPage).map { Array(wrapped.dropFirst($0).prefix(perPage)) }
        var objects: [Data] = []
        // 1: catalog, 2: pages, 3: font, then per page: page object and content stream.
        let pageIDs = pages.indices.map { 4 + $0 * 2 }
        objects.append(latin1("<< /Type /Catalog /Pages 2 0 R >>"))
        objects.append(latin1("<< /Type /Pages /Kids [\(pageIDs.map { "\($0) 0 R" }.joined(separator: " "))] /Count \(pages.count) >>"))
        objects.append(latin1("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"))
        for (index, pageLines) in pages.enumerated() {
            var content = "BT /F1 16 Tf 50 790 Td (\(escape(index == 0 ? title : title + " (continued)"))) Tj ET\n"
            content += "BT /F1 10 Tf 50 760 Td 13 TL\n"
            for line in pageLines { content += "(\(escape(line))) Tj T*\n" }
            content += "ET\n"
            objects.append(
                latin1("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents \(pageIDs[index] + 1) 0 R >>")
            )
            let bytes = latin1(content)
            objects.append(latin1("<< /Length \(bytes.count) >>\nstream\n") + bytes + latin1("endstream"))
        }
        var out = Data("%PDF-1.4\n%".utf8) + Data([0xE2, 0xE3, 0xCF, 0xD3, 0x0A])
        var offsets: [Int] = []
        for (index, object) in objects.enumerated() {
            offsets.append(out.count)
            out.append(Data("\(index + 1) 0 obj\n".utf8))
            out.append(object)
            out.append(Data("\nendobj\n".utf8))
        }
        let xref = out.count
        var table = "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
        for offset in offsets { table += String(format: "%010d 00000 n \n", offset) }
        table += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        out.append(Data(table.utf8))
        return out
    }

    /// PDF literal-string escaping; characters outside printable Latin-1 become `?`.
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "(", ")", "\\": out += "\\" + String(scalar)
            case _ where scalar.value >= 0x20 && scalar.value < 0x7F: out.unicodeScalars.append(scalar)
            case _ where scalar.value >= 0xA0 && scalar.value <= 0xFF: out.unicodeScalars.append(scalar)
            default: out += "?"
            }
        }
        return out
    }

    /// Bytes of text that is already Latin-1 only (after ``escape(_:)``); content streams are WinAnsi.
    static func latin1(_ text: String) -> Data {
        Data(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
    }

    static func wrap(_ line: String, width: Int) -> [String] {
        guard line.count > width else { return [line] }
        var lines: [String] = []
        var current = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            if current.count + word.count + 1 > width, !current.isEmpty {
                lines.append(current)
                current = ""
            }
            var piece = String(word)
            while piece.count > width {
                lines.append(String(piece.prefix(width)))
                piece = String(piece.dropFirst(width))
            }
            current = current.isEmpty ? piece : current + " " + piece
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}
