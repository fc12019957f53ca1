using IIC.Tests;

namespace IIC.Hardware.Tests;

/// <summary>
/// The partition's reused request slot (PendingRequest): one per thread, completed only for the request it waits for
/// now, so a late answer never reaches the next request, and a grant that arrives as its request gives up goes back
/// to the requester to release instead of leaking.
/// </summary>
public sealed class PendingRequestTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public void A_thread_reuses_its_slot_and_a_late_answer_never_reaches_the_next_request()
    {
        var first = PendingRequest.Start(5);
        Assert.Equal(5u, first.RequestId);
        Assert.Null(first.Finish()); // gave up before any answer
        Assert.False(first.TryComplete(5, partitionId: 1)); // the answer to 5 arrives late: refused

        var second = PendingRequest.Start(6);
        Assert.Same(first, second); // nothing allocated for the next request
        Assert.False(second.IsCompleted);
        Assert.False(second.TryComplete(5, partitionId: 1)); // still refused: the slot waits for 6 now
        Assert.False(second.TryFail(5, new InvalidOperationException("late")));
        Assert.True(second.TryComplete(6, partitionId: 2, peerProcessId: 3));
        Assert.False(second.TryComplete(6, partitionId: 9)); // only the first answer counts
        Assert.Equal((2u, 3, (GrantedConnection?)null), second.TakeResult());
        Assert.Null(second.Finish());
    }

    [Fact]
    public void A_failed_request_throws_its_failure_and_its_slot_is_ready_again()
    {
        var slot = PendingRequest.Start(11);
        var error = new HypervisorException(ControlError.UnknownService, "no such service");
        Assert.True(slot.TryFail(11, error));
        Assert.True(slot.Wait(Native.Deadline.After(TimeSpan.Zero)));
        Assert.Same(error, Assert.Throws<HypervisorException>(() => slot.TakeResult()));
        Assert.Null(slot.Finish());
        Assert.Same(slot, PendingRequest.Start(12));
        Assert.False(slot.IsCompleted);
        slot.Finish();
    }

    [Fact]
    public async Task A_request_that_is_not_the_reader_is_woken_by_the_answer()
    {
        var slot = PendingRequest.Start(21);
        using var ready = new ManualResetEventSlim();
        var waiter = Task.Factory.StartNew(() =>
        {
            ready.Set();
            return slot.Wait(Native.Deadline.After(s_timeout));
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(ready.Wait(s_timeout));
        Assert.True(slot.TryComplete(21, partitionId: 4)); // whether the waiter sleeps already or not: it sees the completion
        Assert.True(await waiter.WaitAsync(s_timeout));
        Assert.Equal(4u, slot.TakeResult().PartitionId);
        slot.Finish();
    }

    [Fact]
    public void A_grant_that_arrives_as_its_request_gives_up_goes_back_to_the_requester()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var server = scope.Attach("server");
        using var client = scope.Attach("client");
        using var listener = server.Listen("svc");
        var connection = client.Connect("svc", timeout: s_timeout);
        using var accepted = listener.Accept(s_timeout);

        var slot = PendingRequest.Start(31);
        Assert.True(slot.TryComplete(31, connection: connection)); // the reader completed it...
        var orphan = slot.Finish(); // ...just as the request gave up (timed out) without taking it
        Assert.Same(connection, orphan); // the requester disposes it: the grant is released, not leaked
        orphan!.Dispose();

        var next = PendingRequest.Start(32);
        Assert.True(next.TryComplete(32, connection: null));
        next.TakeResult();
        Assert.Null(next.Finish()); // taken: nothing to give back
    }
}
