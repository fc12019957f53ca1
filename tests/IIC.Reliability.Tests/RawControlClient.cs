using System.Buffers.Binary;
using System.Text;
using IIC.Hardware;
using IIC.Native;

namespace IIC.Reliability.Tests;

/// <summary>
/// A control-protocol client written for the tests (docs/control-protocol.md), byte by byte over a real
/// SOCK_SEQPACKET socket: it can do what a buggy or hostile partition does (flood requests, never read replies).
/// </summary>
internal sealed class RawControlClient : IDisposable
{
    private RawControlClient(SeqPacketSocket socket) => Socket = socket;

    public SeqPacketSocket Socket { get; }

    public static RawControlClient Connect(string hypervisor, string directory)
    {
        var socket = SeqPacketSocket.Create();
        socket.Connect(HypervisorPaths.SocketPath(hypervisor, directory));
        return new RawControlClient(socket);
    }

    /// <summary>Sends Attach and waits for Attached.</summary>
    public void Attach(string name)
    {
        Socket.Send(Message(ControlMessageType.Attach, 1, name));
        var reply = Receive(TimeSpan.FromSeconds(30)) ?? throw new TimeoutException("no reply to Attach");
        Assert.Equal(ControlMessageType.Attached, reply.Type);
    }

    /// <summary>A Connect request (ring capacity, wait in ms, flags 0).</summary>
    public static byte[] ConnectMessage(uint requestId, string service, uint ringCapacity, uint timeoutMs)
        => Message(ControlMessageType.Connect, requestId, service, ringCapacity, timeoutMs, 0u);

    /// <summary>Builds a message: strings are [u16 length][UTF-8], uints 4 bytes, longs 8 bytes, little-endian.</summary>
    public static byte[] Message(ControlMessageType type, uint requestId, params object[] fields)
    {
        var body = new List<byte>();
        foreach (var field in fields)
        {
            switch (field)
            {
                case string s:
                    var bytes = Encoding.UTF8.GetBytes(s);
                    body.AddRange(BitConverter.GetBytes((ushort)bytes.Length));
                    body.AddRange(bytes);
                    break;
                case uint u:
                    body.AddRange(BitConverter.GetBytes(u));
                    break;
                case long l:
                    body.AddRange(BitConverter.GetBytes(l));
                    break;
                default:
                    throw new ArgumentException($"unsupported field {field}");
            }
        }
        var message = new byte[ControlProtocol.HeaderSize + body.Count];
        BinaryPrimitives.WriteUInt32LittleEndian(message, ControlProtocol.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), ControlProtocol.Version);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), (ushort)type);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), (uint)message.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(12), requestId);
        body.CopyTo(message, ControlProtocol.HeaderSize);
        return message;
    }

    /// <summary>The next message (descriptors closed), null on timeout; Type 0 when the hypervisor hung up.</summary>
    public Reply? Receive(TimeSpan timeout)
    {
        var buffer = new byte[ControlProtocol.MaxMessageSize];
        var descriptors = new List<FileDescriptor>();
        if (!Socket.TryReceive(buffer, descriptors, timeout, out var received))
        {
            return null;
        }
        foreach (var descriptor in descriptors)
        {
            descriptor.Dispose();
        }
        if (received == 0)
        {
            return new Reply(0, 0, 0, "");
        }
        var type = (ControlMessageType)BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(6));
        var requestId = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(12));
        if (type != ControlMessageType.Error)
        {
            return new Reply(type, requestId, 0, "");
        }
        var code = (ControlError)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(16));
        var length = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(20));
        return new Reply(type, requestId, code, Encoding.UTF8.GetString(buffer, 22, length));
    }

    public void Dispose() => Socket.Dispose();

    internal sealed record Reply(ControlMessageType Type, uint RequestId, ControlError Error, string Reason);
}
