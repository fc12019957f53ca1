using IIC.Native;

namespace IIC.TestHost;

/// <summary>
/// The child's end of the test's control socket: the parent (IIC.Tests.ChildProcess) listens on a Unix
/// SOCK_SEQPACKET socket and puts its path in <see cref="ControlPathVariable"/>; scenarios that need descriptors
/// connect and receive them with SCM_RIGHTS. Every receive is bounded so a broken parent cannot hang the child.
/// </summary>
internal static class ParentChannel
{
    public const string ControlPathVariable = "IIC_TEST_CONTROL";

    public static TimeSpan Timeout { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Connects to the parent's control socket.</summary>
    public static SeqPacketSocket Connect()
    {
        var path = Environment.GetEnvironmentVariable(ControlPathVariable)
            ?? throw new InvalidOperationException($"{ControlPathVariable} is not set; start this scenario with IIC.Tests.ChildProcess.");
        var socket = SeqPacketSocket.Create();
        try
        {
            socket.Connect(path);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Receives one message (and its descriptors) within <see cref="Timeout"/>; throws if none comes or the parent hung up.</summary>
    public static int Receive(SeqPacketSocket socket, Span<byte> buffer, List<FileDescriptor>? descriptors = null)
    {
        if (!socket.TryReceive(buffer, descriptors, Timeout, out var received))
        {
            throw new TimeoutException($"The parent sent nothing within {Timeout.TotalSeconds} s.");
        }
        if (received == 0)
        {
            throw new IOException("The parent hung up before sending the expected message.");
        }
        return received;
    }
}
