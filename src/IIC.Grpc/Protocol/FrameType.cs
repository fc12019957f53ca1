namespace IIC.Grpc.Protocol;

/// <summary>The kind of a call frame (byte 0 of every frame; docs/grpc-call-protocol.md).</summary>
internal enum FrameType : byte
{
    /// <summary>Client to server: opens a call (method, timeout, request headers).</summary>
    CallStart = 1,

    /// <summary>Either way: one chunk of a serialized message.</summary>
    Message = 2,

    /// <summary>Client to server: the client sends no more messages.</summary>
    HalfClose = 3,

    /// <summary>Server to client: the response headers.</summary>
    ResponseHeaders = 4,

    /// <summary>Server to client: status and trailers; the call is over.</summary>
    Trailers = 5,

    /// <summary>Client to server: the client cancelled the call (or its deadline passed).</summary>
    Cancel = 6,

    /// <summary>
    /// Server to client, stream id 0, the first frame of every connection: the server's settings (the most calls a client may
    /// have open on the connection at once, and the largest header block the server accepts). See <see cref="Frame.SettingsBodyLength"/>.
    /// </summary>
    Settings = 7,

    /// <summary>
    /// Either way, the rest of a CallStart, ResponseHeaders or Trailers frame longer than one ring record (its metadata):
    /// that frame went with <see cref="FrameFlags.Continued"/> and its body's first bytes; each Continuation carries the
    /// next bytes, on the same stream id, with <see cref="FrameFlags.Continued"/> while more follow. No other frame comes
    /// between them (as HTTP/2's CONTINUATION). See <see cref="CallConnection"/>'s gathering (CallConnection.Continuation.cs).
    /// </summary>
    Continuation = 8,

    /// <summary>
    /// Server to client, stream id 0, no body: the server is stopping gracefully. The client starts no more calls on the
    /// connection; those it has go on, and it closes the connection once they all ended (docs/grpc-call-protocol.md 2.10).
    /// </summary>
    GoAway = 9,

    /// <summary>
    /// Client to server, stream id 0, round 22: the client's settings (the largest header block it accepts), sent as the
    /// client's first frame only when the server's Settings frame said it reads one (<see cref="Frame.ReadsClientSettings"/>):
    /// a server of an earlier round would take this type as a protocol error. See <see cref="Frame.ClientSettingsBodyLength"/>.
    /// </summary>
    ClientSettings = 10,
}
