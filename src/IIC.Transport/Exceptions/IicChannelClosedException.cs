namespace IIC.Hardware;

/// <summary>
/// The peer closed its end: everything it published has been received and nothing more will come, or a send
/// found the peer gone. Stream adapters turn this into end-of-stream.
/// </summary>
public sealed class ChannelClosedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public ChannelClosedException()
        : this("The peer closed the channel: no more messages will arrive and none can be sent.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ChannelClosedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public ChannelClosedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
