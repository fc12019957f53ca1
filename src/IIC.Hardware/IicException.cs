namespace IIC;

/// <summary>
/// The base of every exception IICFast throws about a channel or the control plane: the peer closed
/// (<c>IicChannelClosedException</c>) or died (<c>PeerDeadException</c>), a message did not fit the buffer
/// (<c>MessageTooLargeException</c>), the shared ring broke its protocol (<see cref="Hardware.RingFaultException"/>),
/// the hypervisor refused a request or cannot be reached (<see cref="Hardware.HypervisorException"/>).
/// Catch it once to handle them all. It is an <see cref="IOException"/>, as Stream users expect of a transport.
/// (System calls that fail throw <c>IIC.Native.NativeException</c>, also an <see cref="IOException"/>.)
/// </summary>
/// <remarks>
/// It lives in the machine model's assembly (the lowest layer that throws one, the ring) in the root namespace
/// <c>IIC</c>, so the transport's exceptions and the ring's share it.
/// </remarks>
public class IicException : IOException
{
    /// <summary>Creates the exception.</summary>
    public IicException()
        : this("An IICFast channel failed.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public IicException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public IicException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
