namespace IIC.Hardware;

/// <summary>
/// The hypervisor refused a request, or cannot be reached. <see cref="Error"/> says why when it answered. An
/// <see cref="IicException"/>, like every failure IICFast reports, so one catch handles them all.
/// </summary>
public sealed class HypervisorException : IicException
{
    /// <summary>Creates the exception.</summary>
    public HypervisorException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public HypervisorException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public HypervisorException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a refusal.</summary>
    public HypervisorException(ControlError error, string message)
        : base(message)
    {
        Error = error;
    }

    /// <summary>The hypervisor's reason code, when it refused a request.</summary>
    public ControlError? Error { get; }
}
