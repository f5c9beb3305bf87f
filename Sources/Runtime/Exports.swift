// The shim's request and response types are built on swift-http-types; functions use them directly.
@_exported public import HTTPTypes
