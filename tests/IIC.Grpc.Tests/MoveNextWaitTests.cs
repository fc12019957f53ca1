using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Tests;

/// <summary>
/// A stream's <c>MoveNext</c> that has to wait (BatchedMessageReader): with inline completions its task is the only
/// object a wait makes (no TaskCompletionSource around it), and the promise completes, fails and cancels as the source
/// did, with continuations on the completing thread inline and off it otherwise.
/// </summary>
public sealed class MoveNextWaitTests
{
    [Fact]
    public async Task An_inline_wait_allocates_only_its_task()
    {
        var reader = new Owner().Reader(inline: true);
        await WaitAndWakeAsync(reader); // first use: JIT and statics off the count
        var before = GC.GetAllocatedBytesForCurrentThread();
        var task = reader.MoveNext(CancellationToken.None);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.False(task.IsCompleted);
        // A Task<bool> is 64-72 B on 64-bit .NET; with its TaskCompletionSource (the old wait) 88-96 B.
        Assert.True(allocated <= 72, $"a waiting MoveNext allocated {allocated} B: more than its task");
        reader.Enqueue(new StreamEntry<string>("m", null), now: false);
        reader.WakeMoveNext();
        Assert.True(task.IsCompletedSuccessfully);
        Assert.True(await task);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_wait_completes_with_the_message_and_runs_its_continuation_where_it_should(bool inline)
    {
        var reader = new Owner().Reader(inline);
        var task = reader.MoveNext(CancellationToken.None);
        var waker = Environment.CurrentManagedThreadId;
        var waking = 0; // 1 while WakeMoveNext runs on this thread
        var continuation = task.ContinueWith(_ => Environment.CurrentManagedThreadId == waker && Volatile.Read(ref waking) == 1, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        reader.Enqueue(new StreamEntry<string>("hello", null), now: false);
        Volatile.Write(ref waking, 1);
        reader.WakeMoveNext();
        Volatile.Write(ref waking, 0);
        Assert.True(await task);
        Assert.Equal("hello", reader.Current);
        // Inline: inside the wake, on the waking thread (the connection's reader thread). Otherwise queued to the pool
        // (RunContinuationsAsynchronously), so never inside the wake.
        Assert.Equal(inline, await continuation);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_wait_fails_with_a_broken_message_and_ends_cancelled_by_its_token(bool inline)
    {
        var owner = new Owner();
        var reader = owner.Reader(inline);
        var failing = reader.MoveNext(CancellationToken.None);
        reader.Enqueue(new StreamEntry<string>(null, new RpcException(new Status(StatusCode.Internal, "broken"))), now: false);
        reader.WakeMoveNext();
        var thrown = await Assert.ThrowsAsync<RpcException>(() => failing);
        Assert.Equal(StatusCode.Internal, thrown.StatusCode);

        using var cancellation = new CancellationTokenSource();
        var cancelled = reader.MoveNext(cancellation.Token);
        Assert.False(cancelled.IsCompleted);
        await cancellation.CancelAsync();
        var exception = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.True(cancelled.IsCanceled);
        Assert.Equal(cancellation.Token, exception.CancellationToken);

        var ended = reader.MoveNext(CancellationToken.None); // the stream goes on after a cancelled wait
        owner.Ended = true;
        reader.WakeMoveNext();
        Assert.False(await ended);
    }

    private static async Task WaitAndWakeAsync(BatchedMessageReader<string> reader)
    {
        var task = reader.MoveNext(CancellationToken.None);
        reader.Enqueue(new StreamEntry<string>("warm", null), now: false);
        reader.WakeMoveNext();
        Assert.True(await task);
    }

    /// <summary>A call that ends its stream when told, and cancels a waiting MoveNext when its token fires.</summary>
    private sealed class Owner : IBatchedMessageReaderOwner
    {
        private BatchedMessageReader<string>? _reader;

        public bool Ended { get; set; }

        public BatchedMessageReader<string> Reader(bool inline) => _reader = new BatchedMessageReader<string>(this, inline);

        public bool TryEnd(out Exception? failure)
        {
            failure = null;
            return Ended;
        }

        public Exception OnBrokenMessage(RpcException failure) => failure;

        public Task<bool> OnCancelledBeforeWait(CancellationToken token) => Task.FromCanceled<bool>(token);

        public bool RegistersWaitToken(CancellationToken token) => true;

        public void OnWaitCancelled(CancellationToken token) => _reader!.CancelMoveNext(token);
    }
}
