using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// The receive limit's trace event (IicEventSource.MessageRefused, README "Trace events"; docs/window-layout.md 2.4): one
/// Warning per refused message, in the receiving process, with the channel's service and side, the process, the length
/// the peer announced and the limit. The refusals are a real peer's: a child process echoes this side's raw sends.
/// ObservabilityCrossProcessTests checks the event's id, level and fields over a real EventPipe session.
/// </summary>
public class ReceiveLimitTraceTests
{
    private const int Ring = 64 * 1024;
    private const int Limit = 256 * 1024;
    private const int Oversized = (1 << 20) + 5;
    private const int Normal = 100_000; // fragmented on this ring, within the limit: no event
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task Each_refused_message_raises_one_MessageRefused_warning_with_the_channel_the_length_and_the_limit()
    {
        using var events = new RefusalListener();
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("transport-echo", Ring, 1, new ChannelOptions { MaxReceiveMessageLength = Limit }, "receive-send");
        using (child)
        {
            using (var channel = channels[0])
            {
                var service = channel.Options.Name;
                var sender = Task.Factory.StartNew(() =>
                {
                    channel.Send(new byte[Oversized]);
                    channel.Send(new byte[Normal]);
                    channel.Send(new byte[Oversized + 1]);
                    channel.Send(new byte[Normal]);
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                var buffer = new byte[Oversized + 2];
                foreach (var length in new[] { Oversized, Oversized + 1 })
                {
                    Assert.Throws<ReceiveLimitExceededException>(() => channel.TryReceive(buffer, out _, s_timeout));
                    Assert.True(channel.TryReceive(buffer, out var received, s_timeout), "the message after the refused one did not arrive");
                    Assert.Equal(Normal, received);
                }
                await sender.WaitAsync(s_timeout);

                // An EventListener is called on the writing thread, inside the write: the events are here already.
                var refusals = events.Of(service);
                Assert.Equal(2, refusals.Count); // one per refused message, none for the messages within the limit
                for (var i = 0; i < refusals.Count; i++)
                {
                    var e = refusals[i];
                    Assert.Equal(15, e.EventId);
                    Assert.Equal(EventLevel.Warning, e.Level);
                    Assert.Equal(["service", "side", "processId", "messageLength", "limit"], e.PayloadNames);
                    Assert.Equal(channel.Endpoint.Side, e.Payload![1]);
                    Assert.Equal(Environment.ProcessId, e.Payload[2]);
                    Assert.Equal((long)Oversized + i, e.Payload[3]);
                    Assert.Equal((long)Limit, e.Payload[4]);
                    Assert.Contains($"refused a message of {Oversized + i} bytes", string.Format(System.Globalization.CultureInfo.InvariantCulture, e.Message!, [.. e.Payload]), StringComparison.Ordinal);
                }
                Assert.Equal(2, channel.GetStatistics().MessagesRefused);
            }
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    /// <summary>Collects IIC-Transport's MessageRefused events in this process, at Warning (the level a user enables to see problems).</summary>
    private sealed class RefusalListener : EventListener
    {
        private readonly ConcurrentQueue<EventWrittenEventArgs> _events = new();

        /// <summary>The MessageRefused events of channels named <paramref name="service"/>, in the order they were written.</summary>
        public List<EventWrittenEventArgs> Of(string service)
            => [.. _events.Where(e => e.EventName == "MessageRefused" && (string?)e.Payload![0] == service)];

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "IIC-Transport")
            {
                EnableEvents(eventSource, EventLevel.Warning);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData) => _events.Enqueue(eventData);
    }
}
