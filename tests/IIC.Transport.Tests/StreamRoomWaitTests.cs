using System.Globalization;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// <see cref="IicChannel.AsStream"/>'s WriteAsync into a full ring (round 15): it waits for room on the ring's "room armed"
/// wake through the process's RoomWaiter thread, as a duplex pipe's send loop does, holding no thread and not polling
/// (it used to retry with Task.Yield and 1 ms delays); it honours its token and the stream's disposal; nothing is lost.
/// </summary>
public class StreamRoomWaitTests
{
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task A_stream_write_into_a_full_ring_waits_on_the_room_wake_honours_its_token_and_resumes_when_a_reader_in_another_process_drains()
    {
        const int Count = 300;
        using var host = PartitionHost.Start();
        // The child reads nothing until "go", then checks every message's sequence and bytes (one ring record each).
        var (child, channel) = await host.StartChildAsync("transport-slow-receiver", 16 * 1024, Count.ToString(CultureInfo.InvariantCulture));
        using (child)
        await using (var stream = channel.AsStream())
        {
            var size = channel.MaxClaimLength; // one record per write: records and the child's messages line up
            Assert.InRange(size, 8, 4096); // the child's receive buffer
            var message = new byte[size];
            var waitsBefore = RoomWaiter.Waits;

            // Write until a write cannot finish now (the ring is full and nobody reads): it must return pending.
            using var cancel = new CancellationTokenSource();
            var sent = 0;
            ValueTask pending = default;
            while (sent < Count)
            {
                Pattern.Fill(message, sent);
                var write = stream.WriteAsync(message, cancel.Token);
                if (!write.IsCompleted)
                {
                    pending = write;
                    break;
                }
                await write;
                sent++;
            }
            Assert.False(pending.IsCompleted, $"all {sent} writes completed at once although nobody reads a 16 KiB ring");
            Assert.InRange(sent, 1, (16 * 1024 / size) + 1);
            Assert.True(RoomWaiter.Waits > waitsBefore, "the write did not hand its wait for room to the room waiter");

            // The pending write ends with its token and sent nothing of its message (one record); the stream stays usable.
            await cancel.CancelAsync();
            var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending.AsTask().WaitAsync(s_timeout));
            Assert.Equal(cancel.Token, error.CancellationToken);

            // Still full: the same message again is pending too, and completes once the child drains the ring.
            var resumed = stream.WriteAsync(message);
            Assert.False(resumed.IsCompleted, "a write completed although the ring is still full and nobody reads");
            child.WriteLine("go");
            await resumed.AsTask().WaitAsync(s_timeout);
            sent++;
            while (sent < Count)
            {
                Pattern.Fill(message, sent++);
                await stream.WriteAsync(message).AsTask().WaitAsync(s_timeout);
            }
            Assert.Equal($"ok {Count}", child.ReadLine(s_timeout)); // every message, in order, intact: nothing lost or doubled
        }
    }

    [Fact]
    public async Task Disposing_the_stream_ends_a_write_waiting_for_room_with_ObjectDisposedException()
    {
        var (writer, reader) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, Name = "stream-room" });
        using (reader)
        {
            var stream = writer.AsStream();
            var chunk = new byte[writer.MaxClaimLength];
            ValueTask pending;
            do
            {
                pending = stream.WriteAsync(chunk); // nobody reads: the ring fills
            }
            while (pending.IsCompleted);

            await stream.DisposeAsync();

            await Assert.ThrowsAsync<ObjectDisposedException>(async () => await pending.AsTask().WaitAsync(s_timeout));
        }
    }
}
