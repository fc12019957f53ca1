using System.Diagnostics;
using System.Runtime.CompilerServices;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// The server side of ping-pong and idle gap: receive, send the same bytes back. Control messages are echoed too;
/// Mark starts the CPU clock and the count, Idle ends the measured phase and starts the idle one (the client then
/// stays quiet), Stop ends the run. In interleaved rounds (round 19, <see cref="InterleavedPingPong"/>) a Lap stops the
/// CPU clock and, once echoed, sleeps the time it names (the other transport measures meanwhile), and a Resume starts
/// the clock again. The server verifies each message's length (the run's) and checksum (it reads every byte)
/// before echoing it; the sequence is the client's to check.
/// </summary>
internal sealed class EchoServer
{
    private const int BatchSize = 32;
    private readonly byte[] _buffer;
    private readonly int _size;

    private EchoServer(int size)
    {
        _buffer = new byte[size];
        _size = size;
    }

    public static ServerReport Run(IMessageEndpoint endpoint, LinkOptions link)
    {
        ArgumentNullException.ThrowIfNull(link);
        var server = new EchoServer(link.MessageSize);
        if (link.Api == ReceiveApi.PollClaim)
        {
            var zeroCopy = endpoint as IZeroCopyEndpoint
                ?? throw new InvalidOperationException("This transport cannot poll and claim in place; use --api receive.");
            return zeroCopy.Run(new ClaimVisitor(server));
        }
        // send-and-receive too: its client's round trip is one SendAndReceive, and the server receives and sends as a
        // server of any client would (round 25: a server answering with SendAndReceive, whose wait for the next request
        // is longer than a reply's, read 20-40 ns slower per near round trip; perf/RESULTS.md "Round 25").
        return server.Serve(new CopyEcho(endpoint, server._buffer, server._size));
    }

    private ServerReport Serve<TEcho>(TEcho echo)
        where TEcho : struct, IEcho
    {
        long echoed = 0;
        // CPU seconds of the measured phase: from the Mark, without the pauses between a Lap and the next Resume
        // (interleaved rounds, where another transport's block runs meanwhile and this server sleeps).
        var cpu = 0.0;
        double? since = CpuClock.ProcessSeconds;
        double? measuredCpu = null;
        long idleStart = 0;
        while (true)
        {
            var control = EchoBatch(ref echo, BatchSize, ref echoed);
            if (control == MessageStamp.Mark)
            {
                echoed = 0;
                cpu = 0;
                since = CpuClock.ProcessSeconds;
            }
            else if (control == MessageStamp.Resume)
            {
                since ??= CpuClock.ProcessSeconds;
            }
            else if (MessageStamp.IsLap(control, out var sleepUs))
            {
                cpu += since is { } start ? CpuClock.ProcessSeconds - start : 0;
                since = null;
                // Already echoed: sleep through the other transport's block rather than spin on an empty ring beside
                // it (2 CPUs); the client's Resume waits in the ring until this wakes.
                Thread.Sleep(TimeSpan.FromMicroseconds(sleepUs));
            }
            else if (control == MessageStamp.Idle)
            {
                var now = CpuClock.ProcessSeconds;
                measuredCpu = cpu + (since is { } start ? now - start : 0);
                cpu = 0;
                since = now;
                idleStart = Stopwatch.GetTimestamp();
            }
            else if (control == MessageStamp.Stop)
            {
                var spent = cpu + (since is { } start ? CpuClock.ProcessSeconds - start : 0);
                return measuredCpu is { } measured
                    ? new ServerReport(echoed, measured, spent / Stopwatch.GetElapsedTime(idleStart).TotalSeconds)
                    : new ServerReport(echoed, spent);
            }
        }
    }

    /// <summary>Echoes up to <paramref name="count"/> messages; returns the control code that ended the batch early, or 0.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long EchoBatch<TEcho>(ref TEcho echo, int count, ref long echoed)
        where TEcho : struct, IEcho
    {
        for (var i = 0; i < count; i++)
        {
            var sequence = echo.EchoOne();
            if (sequence < 0)
            {
                return sequence;
            }
            echoed++;
        }
        return 0;
    }

    /// <summary>Takes one message, verifies its checksum (reading every byte), sends it back; returns its sequence number.</summary>
    private interface IEcho
    {
        long EchoOne();
    }

    /// <summary>Receive (one copy out), verify (the run's length too), Send (one copy in).</summary>
    private readonly struct CopyEcho(IMessageEndpoint endpoint, byte[] buffer, int size) : IEcho
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public long EchoOne()
        {
            var length = endpoint.Receive(buffer);
            var message = buffer.AsSpan(0, length);
            var sequence = MessageStamp.Read(message);
            MessageStamp.Verify(message, size, sequence); // a receiver reads every byte it was given, and the run agreed on the length
            endpoint.Send(message);
            return sequence;
        }
    }

    /// <summary>
    /// Poll the message in place, claim the reply, verify the message there, copy it straight into the claim and commit:
    /// one copy in all. The reply is claimed before the request is verified (round 14; verified first before): a claim's
    /// first store into the reply's line starts the fetch of that line for ownership (the client, waiting for the reply,
    /// holds a copy), and the verify now overlaps it instead of delaying it (LineLab, the echo ladder: about 10 ns per
    /// round trip). Nothing is published before the request was verified: a corrupt one throws with the claim open, and
    /// the run fails.
    /// </summary>
    private struct ClaimEcho<TLink>(TLink link, int size) : IEcho, IMessageConsumer
        where TLink : struct, IZeroCopyLink
    {
        private TLink _link = link;
        private readonly int _size = size;
        private long _sequence;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public long EchoOne()
        {
            while (_link.Poll(ref this, 1) == 0)
            {
            }
            return _sequence;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            var sequence = MessageStamp.Read(message);
            var writer = new VerifyingCopyWriter(message, _size, sequence);
            _link.SendInPlace(message.Length, ref writer);
            _sequence = sequence;
        }
    }

    /// <summary>Verifies the request (reads every byte), then copies it into the claimed reply.</summary>
    private readonly ref struct VerifyingCopyWriter(ReadOnlySpan<byte> source, int size, long sequence) : IMessageWriter
    {
        private readonly ReadOnlySpan<byte> _source = source;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(Span<byte> destination)
        {
            MessageStamp.Verify(_source, size, sequence); // before the copy: a longer message would not fit the claim
            _source.CopyTo(destination);
        }
    }

    private sealed class ClaimVisitor(EchoServer server) : IZeroCopyVisitor<ServerReport>
    {
        public ServerReport Visit<TLink>(TLink link)
            where TLink : struct, IZeroCopyLink
            => server.Serve(new ClaimEcho<TLink>(link, server._size));
    }
}
