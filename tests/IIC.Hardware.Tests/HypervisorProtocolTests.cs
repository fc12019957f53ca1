using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using IIC.Native;
using IIC.Tests;
using IIC.TestHost;
using IIC.Transport;

namespace IIC.Hardware.Tests;

/// <summary>The control protocol under malformed and hostile input, and the service rules (duplicates, unknown, waiting).</summary>
public class HypervisorProtocolTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    /// <summary>Seeds that once failed; they run first, every time.</summary>
    private static readonly int[] s_regressionSeeds = [];

    [Fact]
    public void Malformed_control_messages_get_the_sender_disconnected_and_the_hypervisor_keeps_serving()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        var attach = Message(ControlMessageType.Attach, 1, Str("fuzzer"));
        var cases = new (string What, byte[][] Messages, bool ExpectError)[]
        {
            ("random bytes", [[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]], false),
            ("one byte", [[0x49]], false),
            ("truncated header", [attach[..15]], false),
            ("wrong magic", [Patch(attach, 0, 0x12345678)], false),
            ("wrong version", [Patch16(attach, 4, (ushort)(ControlProtocol.Version + 1))], false),
            ("version 0", [Patch16(attach, 4, 0)], false),
            ("length field too small", [Patch(attach, 8, 16)], false),
            ("length field too large", [Patch(attach, 8, (uint)attach.Length + 1)], false),
            ("length field huge", [Patch(attach, 8, uint.MaxValue)], false),
            ("oversized message (2 KiB)", [[.. attach, .. new byte[2048]]], false),
            ("oversized message (64 KiB)", [Patch(Message(ControlMessageType.Attach, 1, [.. Str("x"), .. new byte[65536]]), 8, 16)], false),
            ("Listen before Attach", [Message(ControlMessageType.Listen, 1, Str("svc"))], true),
            ("Connect before Attach", [Message(ControlMessageType.Connect, 1, [.. Str("svc"), .. U32(4096), .. U32(0)])], true),
            ("Release before Attach", [Message(ControlMessageType.Release, 1, I64(1))], true),
            ("a reply type sent as a request", [attach, Message(ControlMessageType.Attached, 2, [.. U32(1), .. U32(1)])], true),
            ("unknown type", [attach, Message((ControlMessageType)999, 2, [])], true),
            ("duplicate Attach", [attach, attach], true),
            ("string length beyond the message", [Message(ControlMessageType.Attach, 1, [0xff, 0xff, (byte)'a'])], true),
            ("string length above the name limit", [Message(ControlMessageType.Attach, 1, [.. U16(200), .. new byte[200]])], true),
            ("empty name", [Message(ControlMessageType.Attach, 1, U16(0))], true),
            ("invalid name characters", [Message(ControlMessageType.Attach, 1, Str("bad name!"))], true),
            ("invalid UTF-8", [Message(ControlMessageType.Attach, 1, [2, 0, 0xc3, 0x28])], true),
            ("trailing bytes", [Message(ControlMessageType.Attach, 1, [.. Str("p"), 0])], true),
            ("Connect with a truncated body", [attach, Message(ControlMessageType.Connect, 2, [.. Str("svc"), .. U32(4096)])], true),
            ("Listen with an invalid service name", [attach, Message(ControlMessageType.Listen, 2, Str("a b"))], true),
        };
        foreach (var (what, messages, expectError) in cases)
        {
            using var socket = SeqPacketSocket.Create();
            socket.Connect(scope.SocketPath);
            foreach (var message in messages)
            {
                try
                {
                    socket.Send(message);
                }
                catch (NativeException e) when (e.ErrnoName is "EPIPE" or "ECONNRESET")
                {
                    break; // already disconnected
                }
                catch (NativeException e) when (e.ErrnoName == "EMSGSIZE")
                {
                    socket.Shutdown(System.Net.Sockets.SocketShutdown.Send); // the kernel refused the size; end the connection
                    break;
                }
            }
            var (replies, errors) = ReadUntilHangUp(socket, what);
            if (expectError)
            {
                Assert.True(errors.Contains(ControlError.BadMessage), $"{what}: expected a BadMessage error before the hang-up; got {string.Join(", ", replies)}");
            }
            AssertStillServing(scope, hypervisor, what);
        }
    }

    [Fact]
    public void Fuzzed_control_messages_never_take_the_hypervisor_down()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        var started = Stopwatch.GetTimestamp();
        var seeds = s_regressionSeeds.Concat(Enumerable.Range(1, 500)).ToArray();
        using var eventFd = new EventFd();
        foreach (var seed in seeds)
        {
            var random = new Random(seed);
            using var socket = SeqPacketSocket.Create();
            socket.Connect(scope.SocketPath);
            var count = random.Next(1, 4);
            for (var i = 0; i < count; i++)
            {
                var message = FuzzMessage(random);
                try
                {
                    if (random.Next(10) == 0)
                    {
                        socket.Send(message, eventFd.Descriptor); // partitions never send descriptors: dropped and closed
                    }
                    else
                    {
                        socket.Send(message);
                    }
                }
                catch (NativeException e) when (e.ErrnoName is "EPIPE" or "ECONNRESET" or "EMSGSIZE")
                {
                    break;
                }
            }
            socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            ReadUntilHangUp(socket, $"seed {seed}");
            // Every 10th seed (and the last) proves the full path; the others prove an attach works.
            if (seed % 10 == 0 || seed == seeds[^1])
            {
                AssertStillServing(scope, hypervisor, $"seed {seed}");
            }
            else
            {
                using var probe = scope.Attach("probe");
            }
        }
        WaitFor.Condition(() => hypervisor.PartitionCount == 0 && hypervisor.GrantCount == 0, "every fuzzing connection and probe gone", s_timeout,
            () => $"partitions {hypervisor.PartitionCount}, grants {hypervisor.GrantCount}");
        Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(15), "fuzzing took too long");
    }

    [Fact]
    public async Task Duplicate_and_unknown_services_connect_timeouts_and_late_listeners()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var a = scope.Attach("a");
        using var b = scope.Attach("b");

        using var first = a.Listen("dup");
        var duplicate = Assert.Throws<HypervisorException>(() => b.Listen("dup"));
        Assert.Equal(ControlError.DuplicateService, duplicate.Error);
        Assert.Contains("already offered by partition 'a'", duplicate.Message, StringComparison.Ordinal);
        var local = Assert.Throws<HypervisorException>(() => a.Listen("dup"));
        Assert.Equal(ControlError.DuplicateService, local.Error);

        var watch = Stopwatch.StartNew();
        var unknown = Assert.Throws<HypervisorException>(() => b.Connect("nobody", 4096, TimeSpan.Zero));
        Assert.Equal(ControlError.UnknownService, unknown.Error);
        Assert.Contains("'nobody'", unknown.Message, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"a zero-timeout connect took {watch.Elapsed.TotalMilliseconds:0} ms");

        watch.Restart();
        var expired = Assert.Throws<HypervisorException>(() => b.Connect("still-nobody", 4096, TimeSpan.FromMilliseconds(300)));
        Assert.Equal(ControlError.UnknownService, expired.Error);
        Assert.Contains("within the connect timeout", expired.Message, StringComparison.Ordinal);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(3));

        // A connect that waits is granted as soon as the service appears.
        var pending = b.ConnectAsync("late", 4096, TimeSpan.FromSeconds(10));
        WaitFor.Condition(() => hypervisor.PartitionCount == 2 && !pending.IsCompleted, "the connect is pending");
        using var late = a.Listen("late");
        using var connection = await pending.WaitAsync(s_timeout);
        using var accepted = late.Accept(s_timeout);
        Assert.Equal(connection.Id, accepted.Id);
        Assert.Equal(1, connection.Side);
        Assert.Equal(0, accepted.Side);
        Assert.Equal("b", accepted.PeerName);
        Assert.Equal("a", connection.PeerName);

        // A refused ring size.
        var ring = Assert.Throws<HypervisorException>(() => b.Connect("late", 1 << 30, TimeSpan.Zero));
        Assert.Equal(ControlError.LimitExceeded, ring.Error);

        // Unlisten frees the name for another partition.
        first.Dispose();
        WaitFor.Condition(() =>
        {
            try
            {
                b.Listen("dup").Dispose();
                return true;
            }
            catch (HypervisorException e) when (e.Error == ControlError.DuplicateService)
            {
                return false;
            }
        }, "'dup' can be offered again after the first listener stopped");
    }

    [Fact]
    public void A_waiting_connector_that_cannot_take_its_grant_is_disconnected_not_the_listener()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var listenerPartition = scope.Attach("listener");
        using var raw = SeqPacketSocket.Create();
        raw.Connect(scope.SocketPath);
        raw.Send(Message(ControlMessageType.Attach, 1, Str("connector")));
        var buffer = new byte[1024];
        Assert.True(raw.TryReceive(buffer, null, s_timeout, out var received) && received > 0, "no Attached reply");
        Assert.Equal(ControlMessageType.Attached, (ControlMessageType)BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(6)));
        raw.Send(Message(ControlMessageType.Connect, 2, [.. Str("late"), .. U32(4096), .. U32(10_000)]));
        WaitFor.Condition(() => hypervisor.PartitionCount == 2, "both attached");
        // The connector stops reading: the hypervisor's send of its grant fails with EPIPE (no hang-up is seen first).
        raw.Shutdown(System.Net.Sockets.SocketShutdown.Receive);
        // Backlog 1 connector-first: the connect below is refused (busy) unless the failed grant's place was given back.
        using var listener = listenerPartition.Listen("late", backlog: Hypervisor.ConnectedFirst ? 1 : ServiceListener.DefaultBacklog);
        var listenerDeaths = 0;
        listenerPartition.PeerDied += (_, _) => Interlocked.Increment(ref listenerDeaths);
        // Listener-first (IIC_CONNECTED_FIRST=0) the listener took the grant before the connector failed: it accepts a
        // connection whose peer side is Dead. Connector-first the connector fails before the listener hears: the grant
        // goes unannounced and its place in the backlog is given back.
        using var incoming = Hypervisor.ConnectedFirst ? null : listener.Accept(s_timeout);
        WaitFor.Condition(() => hypervisor.PartitionCount == 1 && hypervisor.GrantCount == 0, "the connector dropped and its grant released", s_timeout,
            () => $"partitions {hypervisor.PartitionCount}, grants {hypervisor.GrantCount}, listener connected {listenerPartition.IsHypervisorConnected}");
        Assert.True(listenerPartition.IsHypervisorConnected, "the listener was disconnected for the connector's failure");
        if (incoming is not null)
        {
            Assert.Equal(SideState.Dead, incoming.Window.ReadSideState(1));
        }
        AssertStillServing(scope, hypervisor, "a failed grant");
        using var again = scope.Attach("again");
        using var second = again.Connect("late", 4096, TimeSpan.Zero);
        using var accepted = listener.Accept(s_timeout);
        Assert.Equal("again", accepted.PeerName);
        if (Hypervisor.ConnectedFirst)
        {
            Assert.Equal(0, Volatile.Read(ref listenerDeaths)); // no PeerDied for a connection it never heard of
        }
    }

    private static void AssertStillServing(HypervisorScope scope, Hypervisor hypervisor, string after)
    {
        var service = "svc-" + Guid.NewGuid().ToString("N")[..8];
        using var server = scope.Attach("server");
        using var client = scope.Attach("client");
        using var listener = IicListener.Listen(server, service);
        using var channel = IicChannel.Connect(client, service, new ChannelOptions { RingCapacity = 4096 }, TimeSpan.Zero);
        using var served = listener.Accept(s_timeout);
        var message = new byte[4096];
        var length = HypervisorPattern.Fill(message, 7);
        channel.Send(message.AsSpan(0, length));
        var buffer = new byte[4096];
        Assert.True(served.TryReceive(buffer, out var received, s_timeout), $"after {after}: no message");
        Assert.Null(HypervisorPattern.Check(buffer.AsSpan(0, received), 7));
        served.Send(buffer.AsSpan(0, received));
        Assert.True(channel.TryReceive(buffer, out received, s_timeout), $"after {after}: no reply");
        Assert.Null(HypervisorPattern.Check(buffer.AsSpan(0, received), 7));
        Assert.True(hypervisor.GrantCount >= 1, $"after {after}: grant count {hypervisor.GrantCount}");
    }

    /// <summary>Reads replies until the hypervisor hangs up (bounded); returns what came.</summary>
    private static (List<string> Replies, List<ControlError> Errors) ReadUntilHangUp(SeqPacketSocket socket, string what)
    {
        var replies = new List<string>();
        var errors = new List<ControlError>();
        var buffer = new byte[4096];
        var descriptors = new List<FileDescriptor>();
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            var remaining = s_timeout - Stopwatch.GetElapsedTime(start);
            Assert.True(remaining > TimeSpan.Zero, $"{what}: the hypervisor neither hung up nor stopped answering within {s_timeout.TotalSeconds} s; replies: {string.Join(", ", replies)}");
            int received;
            try
            {
                if (!socket.TryReceive(buffer, descriptors, remaining, out received))
                {
                    continue;
                }
            }
            catch (NativeException e) when (e.ErrnoName == "ECONNRESET")
            {
                return (replies, errors);
            }
            foreach (var descriptor in descriptors)
            {
                descriptor.Dispose();
            }
            descriptors.Clear();
            if (received == 0)
            {
                return (replies, errors);
            }
            Assert.True(received >= ControlProtocol.HeaderSize, $"{what}: a reply of {received} bytes");
            Assert.Equal(ControlProtocol.Magic, BinaryPrimitives.ReadUInt32LittleEndian(buffer));
            Assert.Equal((uint)received, BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(8)));
            var type = (ControlMessageType)BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(6));
            replies.Add(type.ToString());
            if (type == ControlMessageType.Error)
            {
                errors.Add((ControlError)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(16)));
            }
        }
    }

    /// <summary>One fuzzed message: random bytes, a valid header with a garbage body, or a mutated valid request.</summary>
    private static byte[] FuzzMessage(Random random)
    {
        var valid = random.Next(6) switch
        {
            0 => Message(ControlMessageType.Attach, (uint)random.Next(), Str("p" + random.Next(1000))),
            1 => Message(ControlMessageType.Listen, (uint)random.Next(), Str("s" + random.Next(1000))),
            2 => Message(ControlMessageType.Connect, (uint)random.Next(), [.. Str("s" + random.Next(1000)), .. U32((uint)random.Next()), .. U32((uint)random.Next(0, 50))]),
            3 => Message(ControlMessageType.Release, (uint)random.Next(), I64(random.NextInt64())),
            4 => Message(ControlMessageType.Unlisten, (uint)random.Next(), Str("s" + random.Next(1000))),
            _ => Message((ControlMessageType)random.Next(0, 20), (uint)random.Next(), RandomBytes(random, random.Next(0, 64))),
        };
        switch (random.Next(8))
        {
            case 0:
                return RandomBytes(random, random.Next(1, 2048));
            case 1:
                return valid[..random.Next(1, valid.Length)]; // truncated
            case 2:
                return [.. valid[..ControlProtocol.HeaderSize], .. RandomBytes(random, random.Next(0, 200))]; // header with a stale length, garbage body
            case 3:
            {
                var body = RandomBytes(random, random.Next(0, 200));
                return Message((ControlMessageType)random.Next(1, 12), (uint)random.Next(), body); // valid header, garbage body
            }
            case 4:
            {
                var mutated = (byte[])valid.Clone();
                for (var i = random.Next(1, 4); i > 0; i--)
                {
                    mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
                }
                return mutated;
            }
            case 5:
                return Patch(valid, 8, (uint)random.Next()); // wrong length field
            case 6:
                return [.. Message(ControlMessageType.Attach, 1, Str("big")), .. RandomBytes(random, random.Next(1024, 4096))]; // oversized
            default:
                return valid;
        }
    }

    /// <summary>A raw control message: header (magic, version, type, length, request id) and body; also ConnectedFirstTests'.</summary>
    internal static byte[] Message(ControlMessageType type, uint requestId, byte[] body)
    {
        var message = new byte[ControlProtocol.HeaderSize + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(message, ControlProtocol.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), ControlProtocol.Version);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), (ushort)type);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), (uint)message.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(12), requestId);
        body.CopyTo(message.AsSpan(ControlProtocol.HeaderSize));
        return message;
    }

    /// <summary>A length-prefixed UTF-8 string as the control protocol encodes it.</summary>
    internal static byte[] Str(string value) => [.. U16((ushort)Encoding.UTF8.GetByteCount(value)), .. Encoding.UTF8.GetBytes(value)];

    private static byte[] U16(ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] U32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] I64(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] Patch(byte[] message, int offset, uint value)
    {
        var copy = (byte[])message.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(offset), value);
        return copy;
    }

    private static byte[] Patch16(byte[] message, int offset, ushort value)
    {
        var copy = (byte[])message.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(offset), value);
        return copy;
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }
}
