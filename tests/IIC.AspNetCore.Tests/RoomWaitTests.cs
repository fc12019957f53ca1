using System.Globalization;
using System.IO.Pipelines;
using IIC.TestHost;
using IIC.Tests;
using IIC.Transport;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// A duplex pipe whose peer, in another process, stops reading: a flush into the full ring must not hold the flushing
/// thread. The send loop waits for room asynchronously (RoomWait on the RoomWaiter thread, woken by the peer's reader
/// through the ring's "room armed" flag), so flushes return at once until OutputPauseThreshold bytes are unsent and then
/// return pending ValueTasks that complete when the reader drains, or end with their token.
/// </summary>
[Collection(nameof(ConnectionPumpTests))] // thread measurements: not next to other tests
public class RoomWaitTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_flush_into_a_full_ring_returns_pending_honours_its_token_and_completes_when_a_slow_reader_in_another_process_drains()
    {
        const int Count = 400;
        using var host = PartitionHost.Start();
        // The child reads nothing until "go", then checks every message's sequence and bytes (one ring record each).
        var (child, channel) = await host.StartChildAsync("transport-slow-receiver", 16 * 1024, Count.ToString(CultureInfo.InvariantCulture));
        using (child)
        await using (var pipe = new IicDuplexPipe(channel, IicPipeOptions.Default with
        {
            OutputPauseThreshold = 8 * channel.MaxClaimLength,
            OutputResumeThreshold = 4 * channel.MaxClaimLength,
        }).Start())
        {
            // One record per message: exactly MaxClaimLength bytes per flush, so records and messages line up.
            var size = channel.MaxClaimLength;
            Assert.InRange(size, 8, 4096); // the child's receive buffer
            var waitsBefore = RoomWaiter.Waits;
            using var cancel = new CancellationTokenSource();
            // On another thread with a timeout: a flush that held its thread until the reader drained would hang here.
            var (sent, pending) = await Task.Run(async () =>
            {
                var written = 0;
                while (written < Count)
                {
                    Write(pipe.Output, size, written++);
                    var flush = pipe.Output.FlushAsync(cancel.Token);
                    if (!flush.IsCompleted)
                    {
                        return (written, flush); // the flush returned to us, pending: this thread was not held
                    }
                    await flush;
                }
                return (written, default(ValueTask<FlushResult>));
            }).WaitAsync(s_timeout);
            Assert.False(pending.IsCompleted, $"all {sent} flushes completed at once although nobody reads a 16 KiB ring");
            // The ring (16 KiB) plus the threshold (8 records) fit before the flush goes pending, not much more.
            Assert.InRange(sent, 2, (16 * 1024 / size) + 8 + 2);
            Assert.True(channel.GetStatistics().RingFullStalls > 0, "the send loop never found the ring full");
            Assert.True(RoomWaiter.Waits > waitsBefore, "the send loop did not hand its wait to the room waiter");

            // The pending flush ends with its token; its bytes stay in the pipe and are sent later.
            cancel.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending.AsTask().WaitAsync(s_timeout));

            // Still full: the next flush is pending too, and completes once the child drains the ring.
            Write(pipe.Output, size, sent++);
            var resumed = pipe.Output.FlushAsync();
            Assert.False(resumed.IsCompleted, "a flush completed although the ring is still full and nobody reads");
            child.WriteLine("go");
            await resumed.AsTask().WaitAsync(s_timeout);
            while (sent < Count)
            {
                Write(pipe.Output, size, sent++);
                await pipe.Output.FlushAsync().AsTask().WaitAsync(s_timeout);
            }
            Assert.Equal($"ok {Count}", child.ReadLine(s_timeout)); // every message, in order, intact: nothing lost
        }
    }

    private static void Write(PipeWriter writer, int size, long sequence)
    {
        Pattern.Fill(writer.GetSpan(size)[..size], sequence);
        writer.Advance(size);
    }
}
