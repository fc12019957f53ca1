namespace IIC.Hardware;

/// <summary>
/// A ring's shared state broke the protocol (a corrupt length, an index out of range, a lying padding record):
/// the peer is buggy or hostile. The ring is faulted from then on; the message names the violation.
/// </summary>
public sealed class RingFaultException : IicException
{
    /// <summary>Creates the exception.</summary>
    public RingFaultException()
        : this("The ring is faulted.")
    {
    }

    /// <summary>Creates the exception with a message naming the violation.</summary>
    public RingFaultException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public RingFaultException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
