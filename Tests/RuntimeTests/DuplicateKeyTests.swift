import Foundation
import HTTPTypes
import Primitives
import Runtime
import Testing

/// A JSON object that names a top-level key twice is refused wherever the byte-level scanner reads it: parsers
/// disagree on which one counts (this scanner's subscript would read the first, Python's `json` the last).
@Suite("repeated top-level JSON keys")
struct DuplicateKeyTests {
    @Test("the scanner refuses a repeated top-level key, after the syntax is known to be good; nested repeats are the nested object's business")
    func scanner() throws {
        #expect(throws: JSONSyntaxError.self) { try RawJSONObject(parsing: Data(#"{"type":"a","type":"b"}"#.utf8)) }
        do {
            _ = try RawJSONObject(parsing: Data(#"{"a":1,"b":2,"a":3}"#.utf8))
            Issue.record("a repeated key was accepted")
        } catch {
            #expect(error.isDuplicateKey)
        }
        // Escapes that spell the same key are the same key.
        #expect(RawJSONObject.hasDuplicateKeys(Data(#"{"type":1,"\u0074ype":2}"#.utf8)))
        // A broken document is a syntax error, not a duplicate.
        do {
            _ = try RawJSONObject(parsing: Data(#"{"a":1,"a":2"#.utf8))
            Issue.record("a broken document was accepted")
        } catch {
            #expect(!error.isDuplicateKey)
        }
        #expect(!RawJSONObject.hasDuplicateKeys(Data(#"{"a":{"x":1},"b":{"x":2}}"#.utf8)))
        #expect(!RawJSONObject.hasDuplicateKeys(Data(#"[{"a":1,"a":2}]"#.utf8)))
        #expect(try RawJSONObject(parsing: Data(#"{"a":1,"b":2}"#.utf8)).members.count == 2)
    }

    @Test("a form or JSON body read as DRF reads it: a repeated JSON key is duplicateKey, a repeated form field keeps the last value")
    func requestFields() throws {
        let json = FunctionRequest(method: .post, path: "/", headers: [.contentType: "application/json"], body: Data(#"{"username":"a","username":"b"}"#.utf8))
        #expect(throws: RequestFields.Failure.duplicateKey) { try RequestFields(request: json) }
        let form = FunctionRequest(
            method: .post, path: "/", headers: [.contentType: "application/x-www-form-urlencoded"], body: Data("username=a&username=b".utf8)
        )
        #expect(try RequestFields(request: form)["username"] == .string("b"))
    }

    @Test("a structured CloudEvent that repeats an attribute is malformed")
    func cloudEvent() {
        let body = Data(#"{"specversion":"1.0","id":"1","source":"s","type":"a","type":"b"}"#.utf8)
        #expect(throws: CloudEventError.self) { try CloudEvent(structured: body) }
    }
}
