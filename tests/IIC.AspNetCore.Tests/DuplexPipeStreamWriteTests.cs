using System.Buffers;
using System.IO.Pipelines;
using IIC.Hardware;
using IIC.Tests;
using IIC.Transport;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// DuplexPipeStream's writes (the HTTP client's path): straight into the ring while nothing is queued, through the
/// output pipe when the ring is full, and in order whichever way each one went. Real channel pairs; counters, not time.
/// </summary>
public class DuplexPipeStreamWriteTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    private static ChannelOptions SmallRing() => ChannelOptions.Default with { RingCapacity = 64 * 1024, WaitStrategy = WaitStrategy.Park };

    [Fact]
    public async Task Writes_go_straight_into_the_ring_while_nothing_is_queued()
    {
        var (first, second) = IicChannel.CreatePair(SmallRing());
        using (first)
        using (second)
        {
            var pipe = (IicDuplexPipe)first.AsDuplexPipe();
            await using var stream = new DuplexPipeStream(pipe);
            var peer = second.AsDuplexPipe();
            for (var i = 0; i < 100; i++)
            {
                var message = BitConverter.GetBytes(i);
                await stream.WriteAsync(message);
                Assert.Equal(message, await ReadExactlyAsync(peer.Input, 4));
            }
            stream.Write("sync"u8);
            Assert.Equal("sync"u8.ToArray(), await ReadExactlyAsync(peer.Input, 4));
            Assert.Equal(101, pipe.DirectWrites); // none went through the output pipe
        }
    }

    [Fact]
    public async Task Writes_that_outrun_the_ring_keep_their_order_whether_sent_straight_or_queued()
    {
        var (first, second) = IicChannel.CreatePair(SmallRing());
        using (first)
        using (second)
        {
            // Unsent bytes may pile up in the writer's pipe (no pause while nobody reads); the peer's receive thread
            // stops moving bytes out of the ring once 64 KiB wait in its input pipe.
            var pipe = (IicDuplexPipe)first.AsDuplexPipe(IicPipeOptions.Default with { OutputPauseThreshold = 64 << 20, OutputResumeThreshold = 32 << 20 });
            await using var stream = new DuplexPipeStream(pipe);
            var peer = second.AsDuplexPipe(IicPipeOptions.Default with { InputPauseThreshold = 64 * 1024, InputResumeThreshold = 32 * 1024 });
            long written = 0;
            var random = new Random(16);
            var writes = 0;
            async Task WriteAsync(Func<bool> more)
            {
                for (var i = 0; more(); i++, writes++)
                {
                    var length = random.Next(1, 9000);
                    var data = new byte[length];
                    for (var j = 0; j < length; j++)
                    {
                        data[j] = (byte)((written + j) * 7);
                    }
                    written += length;
                    if (i % 2 == 0)
                    {
                        await stream.WriteAsync(data);
                    }
                    else
                    {
                        stream.Write(data);
                    }
                }
            }
            // Nobody reads yet: the ring fills (and the peer's input pipe up to its pause), then writes queue in the output
            // pipe behind the ring; a few more go after the first queued one, which must not overtake it.
            await WriteAsync(() => pipe.DirectWrites == writes && writes < 5000);
            Assert.True(pipe.DirectWrites < writes, $"all {writes} writes ({written} bytes) went straight into the ring: it never filled");
            var stop = writes + 20;
            await WriteAsync(() => writes < stop);
            var directBefore = pipe.DirectWrites;
            Assert.Equal(directBefore, pipe.DirectWrites);
            long received = 0;
            var reading = Task.Run(async () =>
            {
                while (true)
                {
                    var result = await peer.Input.ReadAsync();
                    foreach (var segment in result.Buffer)
                    {
                        for (var j = 0; j < segment.Length; j++)
                        {
                            if (segment.Span[j] != (byte)((received + j) * 7))
                            {
                                throw new InvalidDataException($"byte {received + j} out of order");
                            }
                        }
                        Volatile.Write(ref received, received + segment.Length);
                    }
                    peer.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        return received;
                    }
                }
            });
            // With a reader draining, the queue empties and writes go straight into the ring again: each write waits
            // here until the reader has everything (the send loop forgets its last bytes just after it sent them).
            WaitFor.Condition(() => Volatile.Read(ref received) == written, "the reader to catch up", s_timeout);
            for (var round = 0; round < 20; round++)
            {
                stop = writes + 1;
                await WriteAsync(() => writes < stop);
                WaitFor.Condition(() => Volatile.Read(ref received) == written, "the reader to catch up", s_timeout);
            }
            await stream.DisposeAsync();
            Assert.Equal(written, await reading.WaitAsync(s_timeout));
            Assert.True(pipe.DirectWrites > directBefore, $"no write went straight into the ring once the queue had drained ({pipe.QueuedBytes} bytes counted queued, {writes} writes, {pipe.DirectWrites} direct)");
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int length)
    {
        while (true)
        {
            var result = await reader.ReadAsync().AsTask().WaitAsync(s_timeout);
            if (result.Buffer.Length >= length)
            {
                var bytes = result.Buffer.Slice(0, length).ToArray();
                reader.AdvanceTo(result.Buffer.GetPosition(length));
                return bytes;
            }
            Assert.False(result.IsCompleted, "the pipe ended early");
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
