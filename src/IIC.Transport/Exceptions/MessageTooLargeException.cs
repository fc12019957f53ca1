namespace IIC.Transport;

/// <summary>The receive buffer is smaller than the next message; the message stays unread.</summary>
public sealed class MessageTooLargeException : IicException
{
    /// <summary>Creates the exception.</summary>
    public MessageTooLargeException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public MessageTooLargeException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public MessageTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a message of <paramref name="needed"/> bytes and a buffer of <paramref name="available"/>.</summary>
    public MessageTooLargeException(long needed, int available)
        : base($"The next message is {needed} bytes but the buffer holds {available}; pass a buffer of at least {needed} bytes (the message stays unread).")
    {
        NeededLength = needed;
    }

    /// <summary>The length of the message that did not fit.</summary>
    public long NeededLength { get; }
}
