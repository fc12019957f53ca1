using System.Globalization;

namespace IIC.Transport;

/// <summary>
/// The peer sent a fragmented message longer than this side's <see cref="ChannelOptions.MaxReceiveMessageLength"/>: it
/// was refused and its fragments are dropped, nothing of it is delivered, and the channel stays usable (the next receive
/// returns the message after it). A Stream or duplex pipe over the channel stops there instead: a byte stream with a gap
/// would be misframed, so its reads fail with this from then on (after every byte before the gap), and it closes the
/// channel, so the peer's sends end with <see cref="IicChannelClosedException"/> rather than wait. Unlike <see cref="MessageTooLargeException"/>, a larger buffer would not help: the
/// message is gone.
/// </summary>
public sealed class ReceiveLimitExceededException : IicException
{
    /// <summary>Creates the exception.</summary>
    public ReceiveLimitExceededException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ReceiveLimitExceededException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public ReceiveLimitExceededException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a message of <paramref name="messageLength"/> bytes refused by a limit of <paramref name="limit"/>.</summary>
    public ReceiveLimitExceededException(long messageLength, long limit)
        : base(string.Create(CultureInfo.InvariantCulture,
            $"The peer sent a message of {messageLength} bytes, over this side's receive limit of {limit} bytes (ChannelOptions.MaxReceiveMessageLength); it was discarded without being buffered (on a channel the next receive returns the message after it; a Stream or duplex pipe over the channel fails from here on and resets the connection). Raise the limit on this side if such messages are expected, or have the peer send smaller ones."))
    {
        MessageLength = messageLength;
        Limit = limit;
    }

    /// <summary>The length the peer announced for the refused message.</summary>
    public long MessageLength { get; }

    /// <summary>The receive limit it was over.</summary>
    public long Limit { get; }
}
