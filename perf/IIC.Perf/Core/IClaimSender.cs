namespace IIC.Perf.Core;

/// <summary>
/// Optional on an <see cref="IMessageEndpoint"/>: zero-copy send. The endpoint claims room in the transport's own
/// memory, the writer fills it in place, the endpoint commits it. The writer is a type parameter (a ref struct
/// may carry the span it copies from), so the call inlines.
/// </summary>
internal interface IClaimSender
{
    /// <summary>Claims <paramref name="length"/> bytes (waiting while the transport is full), lets the writer fill them, commits.</summary>
    void SendInPlace<TWriter>(int length, scoped ref TWriter writer)
        where TWriter : struct, IMessageWriter, allows ref struct;
}

/// <summary>Fills a claimed message in place.</summary>
internal interface IMessageWriter
{
    /// <summary>Writes the whole message into <paramref name="destination"/> (the transport's memory, valid during the call).</summary>
    void Write(Span<byte> destination);
}
