namespace IIC.Transport;

/// <summary>
/// The peer partition died (its process exited or was killed without closing). Every record it had fully
/// published was delivered before this is thrown; a record it was still writing is never delivered.
/// Not an <see cref="IicChannelClosedException"/>: a death is not an orderly close, and callers tell them apart.
/// </summary>
public sealed class PeerDeadException : IicException
{
    /// <summary>Creates the exception.</summary>
    public PeerDeadException()
        : this("The peer partition died; every message it had fully published was delivered.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public PeerDeadException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public PeerDeadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
