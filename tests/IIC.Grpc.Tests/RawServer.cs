using System.Buffers.Binary;
using Google.Protobuf;
using IIC.AspNetCore;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Transport;

namespace IIC.Grpc.Tests;

/// <summary>
/// A server that speaks the native call protocol by hand, in the test process (an <see cref="IicListener"/> on the tests'
/// hypervisor): it accepts every connection and sends nothing, not even the Settings frame every server sends first,
/// until a test says so (<see cref="SendSettings"/>); it reads frames only when told (<see cref="ReceiveFrame"/>). A
/// server that accepts and is stuck, for the connect of IicCallInvoker.
/// </summary>
internal sealed class RawServer : IDisposable
{
    private readonly IicListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<IicChannel> _accepted = [];
    private readonly Task _accepting;

    private readonly uint? _settingsOnAccept;
    private readonly byte[] _buffer = new byte[1 << 20];

    /// <param name="fixture">The tests' hypervisor.</param>
    /// <param name="service">The service it offers.</param>
    /// <param name="settingsOnAccept">Null: it sends nothing until told; else it sends its Settings frame, with this limit, on every connection it accepts.</param>
    public RawServer(TesterFixture fixture, string service, uint? settingsOnAccept = null)
    {
        _settingsOnAccept = settingsOnAccept;
        var partition = IicPartitionHost.Shared(new IicTransportOptions { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory }).GetPartition();
        _listener = IicListener.Listen(partition, service);
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>How many connections it accepted so far.</summary>
    public int Accepted
    {
        get
        {
            lock (_accepted)
            {
                return _accepted.Count;
            }
        }
    }

    /// <summary>How many Settings frames it sent so far (the connects it let finish).</summary>
    public int SettingsSent => Volatile.Read(ref _settingsSent);

    private int _settingsSent;

    private async Task AcceptAsync()
    {
        while (true)
        {
            IicChannel channel;
            try
            {
                channel = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
            {
                return;
            }
            int index;
            lock (_accepted)
            {
                _accepted.Add(channel);
                index = _accepted.Count - 1;
            }
            if (_settingsOnAccept is { } limit)
            {
                SendSettings(index, limit);
            }
        }
    }

    private IicChannel Channel(int index)
    {
        lock (_accepted)
        {
            return _accepted[index];
        }
    }

    /// <summary>
    /// Sends the Settings frame (docs/grpc-call-protocol.md 2.8) on the <paramref name="index"/>th connection accepted: the
    /// call limit alone, as a server of round 18 or before, or also <paramref name="maxHeaderBlock"/> as rounds 19 to 21's,
    /// or also the options with <see cref="Frame.ReadsClientSettings"/> (<paramref name="readsClientSettings"/>) as round 22's.
    /// </summary>
    public void SendSettings(int index, uint maxCalls, uint? maxHeaderBlock = null, bool readsClientSettings = false)
    {
        var body = readsClientSettings ? Frame.SettingsBodyLength : maxHeaderBlock is null ? Frame.SettingsBodyLengthV1 : Frame.SettingsBodyLengthV2;
        var frame = new byte[Frame.HeaderLength + body];
        Frame.WriteHeader(frame, FrameType.Settings, FrameFlags.None, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(Frame.HeaderLength), maxCalls);
        if (body > Frame.SettingsBodyLengthV1)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(Frame.HeaderLength + 4), maxHeaderBlock ?? (uint)MetadataSizeLimit.Default);
        }
        if (readsClientSettings)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(Frame.HeaderLength + 8), Frame.ReadsClientSettings);
        }
        Channel(index).Send(frame);
        Interlocked.Increment(ref _settingsSent);
    }

    /// <summary>The next frame the client sent on the <paramref name="index"/>th connection, whole (a copy).</summary>
    public byte[] ReceiveFrameBytes(int index, TimeSpan timeout)
    {
        Assert.True(Channel(index).TryReceive(_buffer, out var length, timeout), "the client sent no frame");
        return _buffer.AsSpan(0, length).ToArray();
    }

    /// <summary>The next frame the client sent on the <paramref name="index"/>th connection: its type and stream id.</summary>
    public (FrameType Type, uint StreamId) ReceiveFrame(int index, TimeSpan timeout)
    {
        var buffer = _buffer; // one test thread reads
        Assert.True(Channel(index).TryReceive(buffer, out var length, timeout), "the client sent no frame");
        Assert.True(length >= Frame.HeaderLength, $"a frame of {length} bytes");
        return ((FrameType)buffer[0], BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(2)));
    }

    /// <summary>
    /// The next frame the client sent on the <paramref name="index"/>th connection (once accepted), which must be a CallStart:
    /// its stream id and the request it carries (a unary call's small request rides in it, docs/grpc-call-protocol.md 2.7), or null.
    /// </summary>
    /// <param name="index">The connection, in the order accepted.</param>
    /// <param name="timeout">A watchdog: how long it waits for the connection, then for the frame.</param>
    /// <param name="context">What the failure message should say too (what the test had read so far).</param>
    public (uint StreamId, Request? Request) ReceiveCallStart(int index, TimeSpan timeout, string? context = null)
    {
        IIC.Tests.WaitFor.Condition(() => Accepted > index, $"the server's connection {index + 1} accepted", timeout);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        if (!TryReceiveCallStart(index, timeout, out var streamId, out var request))
        {
            // A diagnostic only: false before the watchdog means the client closed the connection (TryReceiveCallStart).
            Assert.Fail($"the client sent no frame ({(waited.Elapsed < timeout ? "it closed the connection" : $"none within {timeout.TotalSeconds:0} s")}"
                + $" after {waited.Elapsed.TotalSeconds:0.###} s; connections accepted: {Accepted}){(context is null ? "" : "; " + context)}");
        }
        return (streamId, request);
    }

    /// <summary>
    /// <see cref="ReceiveCallStart"/> that may find nothing: false when no frame came within <paramref name="timeout"/> (zero:
    /// look once), or the client closed the connection.
    /// </summary>
    public bool TryReceiveCallStart(int index, TimeSpan timeout, out uint streamId, out Request? request)
    {
        var buffer = _buffer; // one test thread reads
        (streamId, request) = (0, null);
        try
        {
            if (!Channel(index).TryReceive(buffer, out var length, timeout))
            {
                return false;
            }
            Assert.True(length >= Frame.HeaderLength, $"a frame of {length} bytes");
        }
        catch (IicChannelClosedException)
        {
            return false;
        }
        Assert.Equal(FrameType.CallStart, (FrameType)buffer[0]);
        streamId = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(2));
        if ((((FrameFlags)buffer[1]) & FrameFlags.WithMessage) != 0)
        {
            var messageLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(Frame.HeaderLength));
            request = Request.Parser.ParseFrom(buffer, Frame.HeaderLength + 4, messageLength);
        }
        return true;
    }

    /// <summary>Ends the call <paramref name="streamId"/> of the <paramref name="index"/>th connection OK with <paramref name="reply"/> (one Trailers frame carrying it, 2.7).</summary>
    public void SendReply(int index, uint streamId, Reply reply)
    {
        var message = reply.ToByteArray();
        var frame = new byte[Frame.HeaderLength + 4 + message.Length + 4 + 4 + 2]; // the message, status OK, empty detail, no trailers
        Frame.WriteHeader(frame, FrameType.Trailers, FrameFlags.WithMessage, streamId);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(Frame.HeaderLength), (uint)message.Length);
        message.CopyTo(frame.AsSpan(Frame.HeaderLength + 4));
        Channel(index).Send(frame); // the rest (status 0, detail length 0, metadata count 0) is zeros already
    }

    /// <summary>Sends a ResponseHeaders frame (2.4) with <paramref name="headers"/> for the call <paramref name="streamId"/> (one record: keep it under the ring's).</summary>
    public void SendResponseHeaders(int index, uint streamId, global::Grpc.Core.Metadata headers)
    {
        var builder = FrameBuilder.Rent();
        try
        {
            Frame.WriteHeader(builder.Reserve(Frame.HeaderLength), FrameType.ResponseHeaders, FrameFlags.None, streamId);
            MetadataCodec.Write(builder, headers);
            Channel(index).Send(builder.Written);
        }
        finally
        {
            FrameBuilder.Return(builder);
        }
    }

    /// <summary>Sends GoAway (docs/grpc-call-protocol.md 2.10) on the <paramref name="index"/>th connection: the server is stopping.</summary>
    public void SendGoAway(int index)
    {
        var frame = new byte[Frame.HeaderLength];
        Frame.WriteHeader(frame, FrameType.GoAway, FrameFlags.None, 0);
        Channel(index).Send(frame);
    }

    /// <summary>Closes the <paramref name="index"/>th connection (the client sees the server close it).</summary>
    public void Close(int index) => Channel(index).Dispose();

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        try
        {
            _accepting.Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // the accept loop ended some other way: nothing to clean up there
        }
        lock (_accepted)
        {
            foreach (var channel in _accepted)
            {
                channel.Dispose();
            }
        }
        _stop.Dispose();
    }
}
