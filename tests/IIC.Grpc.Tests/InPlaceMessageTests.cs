using System.Runtime.InteropServices;
using Google.Protobuf;
using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// A single message carried whole in one frame (the request in CallStart, the response in Trailers) is deserialized
/// where it lies in the ring, not copied first: checked through a marshaller that looks at its payload's memory, and the
/// contract kept across processes on both sides (a server running its handlers inline takes its request in place):
/// contents intact around the carry limit, limits still enforced, the channel reused ring slot after ring slot.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class InPlaceMessageTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    /// <summary>Sizes from empty to several chunks: below the carry limit they ride in one frame, above it they are chunked and copied.</summary>
    private static readonly int[] s_sizes = [0, 1, 32, 4000, 60_000, 70_000, 300_000];

    [Fact]
    public async Task A_carried_response_is_deserialized_from_the_ring_not_from_a_copy()
    {
        using var channel = fixture.Open("native");
        var sawArray = 0;
        var sawRing = 0;
        var method = new Method<Request, Reply>(MethodType.Unary, "iic.testing.Tester", "Unary",
            Marshallers.Create<Request>(r => r.ToByteArray(), b => Request.Parser.ParseFrom(b)),
            new Marshaller<Reply>(static (r, context) => context.Complete(r.ToByteArray()), context =>
            {
                var payload = context.PayloadAsReadOnlySequence();
                if (MemoryMarshal.TryGetArray(payload.First, out _))
                {
                    Interlocked.Increment(ref sawArray);
                }
                else
                {
                    Interlocked.Increment(ref sawRing);
                }
                return Reply.Parser.ParseFrom(payload);
            }));
        for (var i = 0; i < 20; i++)
        {
            var reply = await channel.CallInvoker.AsyncUnaryCall(method, null, new CallOptions(deadline: DateTime.UtcNow + s_timeout),
                new Request { Text = "in place " + i, Payload = Payloads.Of(32) });
            Assert.Equal("in place " + i, reply.Text);
            Assert.True(Payloads.Of(32).Span.SequenceEqual(reply.Payload.Span), "the reply's payload came back changed");
        }
        Assert.Equal(0, sawArray);
        Assert.Equal(20, sawRing);
    }

    [Fact]
    public async Task Unary_against_inline_handlers_echoes_every_size_intact()
    {
        using var server = fixture.StartServer("inplace-sizes", inlineHandlers: true);
        foreach (var (size, inlineCompletions) in s_sizes.SelectMany(size => new[] { (size, false), (size, true) }))
        {
            using var channel = fixture.Connect(server.Address("iic://"), inlineCompletions: inlineCompletions);
            var client = new Tester.TesterClient(channel.CallInvoker);
            // Many calls in a row: each message lands in a later ring slot, and the ring wraps under the small ones.
            for (var i = 0; i < (size < 10_000 ? 300 : 5); i++)
            {
                var payload = Payloads.Of(size + i % 3);
                var reply = await client.UnaryAsync(new Request { Text = "n" + i, Payload = payload }, deadline: DateTime.UtcNow + s_timeout);
                Assert.Equal("n" + i, reply.Text);
                Assert.True(payload.Span.SequenceEqual(reply.Payload.Span), $"call {i} ({payload.Length} B) came back changed");
            }
        }
    }

    [Theory]
    [InlineData("native")]
    [InlineData("native-inline")]
    public async Task A_carried_reply_above_the_clients_limit_is_ResourceExhausted_and_the_channel_stays_usable(string path)
    {
        using var channel = fixture.Open(path, maxReceive: 1024);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(
            new Request { Payload = Payloads.Of(4096) }, deadline: DateTime.UtcNow + s_timeout));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal("still here", (await client.UnaryAsync(new Request { Text = "still here" }, deadline: DateTime.UtcNow + s_timeout)).Text);
    }

    [Fact]
    public async Task A_request_the_inline_server_cannot_parse_ends_the_call_with_Internal_and_the_next_call_works()
    {
        using var server = fixture.StartServer("inplace-garbage", inlineHandlers: true);
        using var channel = fixture.Connect(server.Address("iic://"));
        // Bytes that are not a Request (field 1 as a varint with the continuation bit set to the end): the server's
        // in-place deserialization fails, and the call ends with its status, as a copied request's would.
        var garbage = new Method<byte[], byte[]>(MethodType.Unary, "iic.testing.Tester", "Unary",
            Marshallers.Create(static (byte[] b) => b, static b => b), Marshallers.Create(static (byte[] b) => b, static b => b));
        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CallInvoker.AsyncUnaryCall(
            garbage, null, new CallOptions(deadline: DateTime.UtcNow + s_timeout), [0x08, 0xFF, 0xFF, 0xFF]));
        Assert.Equal(StatusCode.Internal, e.StatusCode);
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_timeout)).Text);
    }

    [Fact]
    public void The_registry_finds_every_live_call_and_none_that_ended_while_it_grows_under_concurrent_removals()
    {
        var registry = new CallRegistry();
        const int Threads = 4;
        const int CallsPerThread = 5000;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var live = new List<ProbeCall>();
            for (var i = 0; i < CallsPerThread; i++)
            {
                var call = new ProbeCall();
                if (!registry.TryAdd(call, out var id, out _) || id != call.StreamId || id == 0)
                {
                    failures.Enqueue($"call {i} not registered properly (id {id}, StreamId {call.StreamId})");
                    return;
                }
                live.Add(call);
                // Keep up to ~100 live per thread (the table grows past 16), removing in a scattered order.
                if (live.Count > 100 || (i % 7 == 0 && live.Count > 0))
                {
                    var index = (i * 31) % live.Count;
                    var gone = live[index];
                    live.RemoveAt(index);
                    registry.Remove(gone);
                    registry.Remove(gone); // idempotent
                    if (registry.Find(gone.StreamId) is not null)
                    {
                        failures.Enqueue($"stream {gone.StreamId} still found after its removal");
                    }
                }
                foreach (var other in live.Count > 8 ? live[^8..] : live)
                {
                    if (!ReferenceEquals(registry.Find(other.StreamId), other))
                    {
                        failures.Enqueue($"live stream {other.StreamId} not found");
                    }
                }
            }
            foreach (var call in live)
            {
                registry.Remove(call);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => Assert.True(w.Join(TimeSpan.FromMinutes(2)), "a worker did not finish"));
        Assert.Empty(failures);
        Assert.Empty(registry.Close(new Status(StatusCode.Unavailable, "closed"))); // nothing leaked
        Assert.False(registry.TryAdd(new ProbeCall(), out _, out var closed));
        Assert.Equal(StatusCode.Unavailable, closed.StatusCode);
    }

    /// <summary>A registry entry with no behaviour: only its identity and stream id matter here.</summary>
    private sealed class ProbeCall : ClientCallBase
    {
        public override void OnResponseHeaders(Metadata headers)
        {
        }

        public override void OnMessage(IIC.Grpc.Protocol.ReceivedMessage message)
        {
        }

        public override void OnTrailers(Status status, Metadata trailers)
        {
        }

        public override void OnConnectionLost(Status status)
        {
        }

        public override void CompleteLocally(Status status)
        {
        }
    }
}
