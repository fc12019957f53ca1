namespace IIC.Transport;

/// <summary>
/// The peer closed its end: everything it published has been received and nothing more will come, or a send
/// found the peer gone. Stream adapters turn this into end-of-stream, unless the peer reset the connection
/// (<see cref="PeerReset"/>): then their reads fail with it, as a socket's do after a RST.
/// (Named apart from System.Threading.Channels.ChannelClosedException, which a file may well also import.)
/// </summary>
public sealed class IicChannelClosedException : IicException
{
    /// <summary>Creates the exception.</summary>
    public IicChannelClosedException()
        : this("The peer closed the channel: no more messages will arrive and none can be sent.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public IicChannelClosedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public IicChannelClosedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>A receive's or a send's end of a peer that reset the connection (<see cref="PeerReset"/>).</summary>
    internal IicChannelClosedException(string message, bool peerReset)
        : base(message)
    {
        PeerReset = peerReset;
    }

    /// <summary>
    /// True when the peer reset the connection rather than closing it cleanly: its pipe or stream had bytes nobody would
    /// read (docs/window-layout.md 2.4, round 25), as a TCP peer's RST. Everything it sent before was received. A duplex
    /// pipe's input and a stream's reads fail with this exception instead of ending cleanly. A send to such a peer throws
    /// it with this set too (since round 25b; before, only the receive told a reset from a clean close).
    /// </summary>
    public bool PeerReset { get; }
}
