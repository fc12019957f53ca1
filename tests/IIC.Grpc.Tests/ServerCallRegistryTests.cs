using IIC.Grpc.Protocol;
using IIC.Grpc.Server;

namespace IIC.Grpc.Tests;

/// <summary>
/// The server's lock-free call registry (issue 16 round 7: it took a lock to add and one to remove each call): what one
/// reader thread adds is found until the call removes itself from another thread, colliding ids grow the table, a
/// broken client's ids are refused, and a close racing with adds and removals hands every call to exactly one party.
/// Cross-process behaviour (cancel, server death, 64 concurrent calls) is covered by the call tests over the real path.
/// </summary>
public sealed class ServerCallRegistryTests
{
    private sealed class Call(uint id) : IStreamCall
    {
        public uint StreamId { get; } = id;
    }

    [Fact]
    public void Added_calls_are_found_by_id_until_removed_and_a_duplicate_is_refused()
    {
        var registry = new ServerCallRegistry<Call>();
        var first = new Call(1);
        var second = new Call(2);
        Assert.Equal(ServerCallRegistry.AddResult.Added, registry.TryAdd(first));
        Assert.Equal(ServerCallRegistry.AddResult.Added, registry.TryAdd(second));
        Assert.Same(first, registry.Find(1));
        Assert.Null(registry.Find(17)); // same slot as 1, another id
        Assert.Equal(ServerCallRegistry.AddResult.Duplicate, registry.TryAdd(new Call(1)));
        registry.Remove(first);
        registry.Remove(first); // idempotent
        Assert.Null(registry.Find(1));
        Assert.Same(second, registry.Find(2));
        Assert.Equal(ServerCallRegistry.AddResult.Added, registry.TryAdd(new Call(1))); // an ended call's id may come again
    }

    [Fact]
    public void Ids_equal_in_their_low_bits_grow_the_table_and_beyond_the_bound_are_refused()
    {
        var registry = new ServerCallRegistry<Call>(maxSlots: 64);
        var calls = new[] { new Call(3), new Call(3 + 16), new Call(3 + 32) };
        foreach (var call in calls)
        {
            Assert.Equal(ServerCallRegistry.AddResult.Added, registry.TryAdd(call));
        }
        Assert.Equal(64, registry.SlotCount);
        foreach (var call in calls)
        {
            Assert.Same(call, registry.Find(call.StreamId));
        }
        Assert.Equal(ServerCallRegistry.AddResult.Collision, registry.TryAdd(new Call(3 + 64)));
        Assert.Null(registry.Find(3 + 64));
    }

    [Fact]
    public void Removals_on_other_threads_while_the_reader_adds_and_grows_lose_no_call_and_keep_no_ended_one()
    {
        // The reader thread adds in order (ids collide in their low bits as they pass the table size: doublings); workers end the calls
        // as handlers would. At the end exactly the calls never ended are registered.
        var registry = new ServerCallRegistry<Call>();
        const int Count = 20_000;
        var calls = Enumerable.Range(1, Count).Select(i => new Call((uint)i)).ToArray();
        var ended = new bool[Count];
        using var work = new System.Collections.Concurrent.BlockingCollection<int>();
        var workers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            foreach (var index in work.GetConsumingEnumerable())
            {
                registry.Remove(calls[index]);
            }
        })).ToArray();
        foreach (var worker in workers)
        {
            worker.Start();
        }
        for (var i = 0; i < Count; i++)
        {
            Assert.Equal(ServerCallRegistry.AddResult.Added, registry.TryAdd(calls[i]));
            if (i % 7 != 0) // every seventh call stays open (the open ones collide in the low bits as the table grows)
            {
                ended[i] = true;
                work.Add(i);
            }
        }
        work.CompleteAdding();
        Assert.All(workers, worker => Assert.True(worker.Join(TimeSpan.FromMinutes(1)), "a removing worker did not finish"));
        for (var i = 0; i < Count; i++)
        {
            if (ended[i])
            {
                Assert.Null(registry.Find(calls[i].StreamId));
            }
            else
            {
                Assert.Same(calls[i], registry.Find(calls[i].StreamId));
            }
        }
        Assert.Equal(Count - ended.Count(e => e), registry.Close().Count);
    }

    [Fact]
    public void A_close_racing_with_adds_hands_every_call_to_exactly_one_party()
    {
        for (var round = 0; round < 200; round++)
        {
            var registry = new ServerCallRegistry<Call>();
            var refused = new List<Call>();
            var added = new List<Call>();
            using var started = new ManualResetEventSlim();
            Exception? failure = null;
            var reader = new Thread(() =>
            {
                try
                {
                    started.Set();
                    for (var i = 1; i <= 2_000; i++)
                    {
                        var call = new Call((uint)i);
                        var result = registry.TryAdd(call);
                        Assert.NotEqual(ServerCallRegistry.AddResult.Duplicate, result);
                        Assert.NotEqual(ServerCallRegistry.AddResult.Collision, result);
                        (result == ServerCallRegistry.AddResult.Closed ? refused : added).Add(call);
                    }
                }
#pragma warning disable CA1031 // reported on the test thread below
                catch (Exception e)
                {
                    failure = e;
                }
#pragma warning restore CA1031
            });
            reader.Start();
            Assert.True(started.Wait(TimeSpan.FromMinutes(1)));
            var closed = registry.Close();
            Assert.True(reader.Join(TimeSpan.FromMinutes(1)), "the adding thread did not finish");
            Assert.Null(failure);
            // Every call the adder kept was taken by the close (it tells them); every other one the adder was told about.
            Assert.Equal(added.Select(c => c.StreamId).Order(), closed.Select(c => c.StreamId).Order());
            Assert.Equal(2_000, added.Count + refused.Count);
            Assert.Empty(registry.Close());
        }
    }
}
