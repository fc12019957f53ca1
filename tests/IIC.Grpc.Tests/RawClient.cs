using System.Buffers.Binary;
using Google.Protobuf;
using IIC.AspNetCore;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Transport;

namespace IIC.Grpc.Tests;

/// <summary>
/// A client that speaks the native call protocol by hand over a bare IicChannel (docs/grpc-call-protocol.md): it reads the
/// ring only when a test says so, and sends what it is told, such as more calls than the server allows.
/// </summary>
internal static class RawClient
{
    /// <summary>A channel to <paramref name="service"/> whose first frame (the server's Settings) is read into <paramref name="settings"/>.</summary>
    public static IicChannel Connect(TesterFixture fixture, string service, TimeSpan timeout, out byte[] settings)
    {
        var partition = IicPartitionHost.Shared(new IicTransportOptions { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory }).GetPartition();
        var raw = IicChannel.Connect(partition, service, ChannelOptions.Default, TimeSpan.FromSeconds(30));
        var buffer = new byte[256];
        Assert.True(raw.TryReceive(buffer, out var length, timeout), "the server sent no first frame");
        settings = buffer.AsSpan(0, length).ToArray();
        return raw;
    }

    /// <summary>A CallStart frame of Tester's <paramref name="method"/> carrying its one request and EndStream (2.1, 2.7), no deadline, no headers.</summary>
    public static byte[] CallStart(uint streamId, string method, Request request)
    {
        var message = request.ToByteArray();
        var name = System.Text.Encoding.UTF8.GetBytes($"/iic.testing.Tester/{method}");
        var frame = new byte[Frame.HeaderLength + 4 + message.Length + 8 + 2 + name.Length + 2];
        frame[0] = (byte)FrameType.CallStart;
        frame[1] = (byte)(FrameFlags.WithMessage | FrameFlags.EndStream);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(2), streamId);
        var at = Frame.HeaderLength;
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(at), (uint)message.Length);
        message.CopyTo(frame.AsSpan(at + 4));
        at += 4 + message.Length;
        BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(at), -1); // no deadline
        at += 8;
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(at), (ushort)name.Length);
        name.CopyTo(frame.AsSpan(at + 2));
        at += 2 + name.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(at), 0); // no headers
        return frame;
    }
}
