namespace IIC.Isolation.Host;

/// <summary>
/// The stream scenario's byte stream. (Messages are the child test host's <see cref="IIC.TestHost.HypervisorPattern"/>,
/// compiled in from tests/IIC.TestHost/HypervisorPattern.cs.)
/// </summary>
internal static class Pattern
{
    /// <summary>Byte <paramref name="offset"/> of the stream scenario's byte stream.</summary>
    public static byte StreamByte(long offset) => (byte)((offset * 131) ^ (offset >> 9));
}
