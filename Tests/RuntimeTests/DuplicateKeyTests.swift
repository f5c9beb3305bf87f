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

@Suite("request bodies as fields: forms and multipart as Django REST framework reads them")
struct RequestFieldsTests {
    func fields(_ body: String, _ contentType: String) throws(RequestFields.Failure) -> [String: RequestFields.Value] {
        try RequestFields(request: FunctionRequest(method: .post, path: "/", headers: [.contentType: contentType], body: Data(body.utf8))).values
    }

    @Test("multipart (MultipartKit): text parts are fields, file parts are not, a quoted boundary and a preamble are fine")
    func multipart() throws {
        let body = "preamble\r\n--b1\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n"
            + "--b1\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\u{1}\u{2}\r\n"
            + "--b1\r\ncontent-disposition: form-data; name=\"password\"\r\n\r\nline one\r\nline two\r\n--b1--\r\n"
        let values = try fields(body, "multipart/form-data; boundary=\"b1\"")
        #expect(values == ["username": .string("alice"), "password": .string("line one\r\nline two")])
        // A part that never ends is no field; no boundary parameter is a malformed body.
        #expect(try fields("--b1\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice", "multipart/form-data; boundary=b1") == [:])
        #expect(throws: RequestFields.Failure.malformedMultipart) { try fields(body, "multipart/form-data") }
        #expect(throws: RequestFields.Failure.malformedMultipart) { try fields("--b1\r\nbroken header\r\n\r\n", "multipart/form-data; boundary=b1") }
    }

    @Test("form-urlencoded as Django's QueryDict: flat names, the last of a repeated name, malformed escapes kept")
    func form() throws {
        let values = try fields("user%5Bname%5D=a+b&x=1&x=2&bad=%ZZ", "application/x-www-form-urlencoded")
        #expect(values == ["user[name]": .string("a b"), "x": .string("2"), "bad": .string("%ZZ")])
    }
}

@Suite("settings read through swift-configuration")
struct EnvironmentReaderTests {
    @Test("empty is unset; integers in range; booleans as swift-configuration reads them and on/off; errors name the setting, never its value")
    func reads() throws {
        let reader = EnvironmentReader([
            "EMPTY": "", "PORT": "8081", "BIG": "99999", "WORDS": "eighty", "YES": "yes", "ON": "on", "OFF": "OFF", "MAYBE": "maybe",
            "SECRET_KEY": "hunter2-hunter2",
        ])
        #expect(reader.string("EMPTY") == nil && reader.string("MISSING") == nil)
        #expect(try reader.integer("PORT", default: 1, range: 0...65535) == 8081)
        #expect(try reader.integer("MISSING", default: 7, range: 0...10) == 7)
        for name in ["BIG", "WORDS"] {
            #expect(throws: ConfigurationError.self) { try reader.integer(name, default: 1, range: 0...65535) }
        }
        #expect(try reader.bool("YES", default: false) && reader.bool("ON", default: false) && !reader.bool("OFF", default: true))
        do {
            _ = try reader.bool("MAYBE", default: false)
            Issue.record("maybe is not a boolean")
        } catch {
            #expect(error.description == "Invalid configuration: MAYBE must be true or false")
        }
        #expect(reader.string("SECRET_KEY") == "hunter2-hunter2" && EnvironmentReader.secrets.contains("SECRET_KEY"))
        #expect(throws: ConfigurationError.self) { try reader.required("EMPTY") }
    }
}
