namespace IIC.Perf.Core;

/// <summary>The other process of a measurement exited or closed its end before the measurement ended.</summary>
internal sealed class PeerGoneException : Exception
{
    public PeerGoneException()
    {
    }

    public PeerGoneException(string message)
        : base(message)
    {
    }

    public PeerGoneException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
