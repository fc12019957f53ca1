namespace IIC.Perf.Core;

/// <summary>
/// One end of a connected, bidirectional, message-oriented link between the two benchmark processes.
/// Calls block (in the transport's wait mode) until done, bounded by the <see cref="RunGuard"/> the endpoint was
/// made with. Implementations must not allocate per message.
/// </summary>
internal interface IMessageEndpoint : IDisposable
{
    /// <summary>Sends one message, waiting while the transport applies back pressure.</summary>
    void Send(ReadOnlySpan<byte> message);

    /// <summary>Waits for the next message and copies it into <paramref name="buffer"/>; returns its length.</summary>
    int Receive(Span<byte> buffer);

    /// <summary>
    /// Sends <paramref name="message"/> and waits for the answer, copied into <paramref name="buffer"/> (which may be the
    /// message's memory); returns its length. A transport with a request/reply call of its own uses it; the others send,
    /// then receive.
    /// </summary>
    int SendAndReceive(ReadOnlySpan<byte> message, Span<byte> buffer)
    {
        Send(message);
        return Receive(buffer);
    }
}
