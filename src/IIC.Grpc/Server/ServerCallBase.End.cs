using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Server;

// ServerCallBase, the call's end: the status and trailers after the handler (behind a write still in progress, or with
// the single response riding in them), the token source's end, and a Cancel that comes after (docs/grpc-call-protocol.md
// 2.5, 2.6). The class's documentation is in ServerCallBase.cs.
internal abstract partial class ServerCallBase
{
    /// <summary>
    /// Sends the status and trailers, unless the client is gone; removes the call; disposes the token source. With
    /// <paramref name="response"/> (a single response serialized by <see cref="Serialization.Serialize"/>, which this
    /// returns) the response goes first: in the Trailers frame itself when it is small (<see cref="FrameFlags.WithMessage"/>:
    /// one frame, one wake-up of a sleeping client), else as Message frames before it.
    /// </summary>
    protected void Finish(Status status, FrameBuilder? response = null)
    {
        Telemetry?.End(status);
        Task? writeInProgress = null;
        if (HasResponseStream)
        {
            // Before the trailers go, and a full fence (as the write's exchange of WriteRunning): a write that marks itself
            // running after this sees Ended and is refused; one that marked itself before is waited for here (its
            // synchronous part never waits for the client), and a message it left queued or deferred goes before the
            // trailers. Before, a write racing the handler's return could put its message after the trailers, where the
            // client drops it, and report success.
            Interlocked.Exchange(ref _ended, 1);
            if (Volatile.Read(ref WriteRunning) != 0)
            {
                var spinner = default(SpinWait);
                while (Volatile.Read(ref WriteRunning) != 0)
                {
                    spinner.SpinOnce();
                }
            }
            if (Volatile.Read(ref PendingWrite) is { IsCompleted: false } pending)
            {
                writeInProgress = pending;
            }
        }
        else
        {
            Volatile.Write(ref _ended, 1); // no response stream: no write can race the trailers
        }
        Connection.Remove(this);
        Assembler.Reset();
        var responseQueued = false;
        var endLater = false; // the trailers wait for a write in progress, and the token lives until then
        if (!ClientGone)
        {
            var carried = response is not null && Connection.CanCarry(response);
            var trailers = carried ? null : FrameBuilder.Rent();
            try
            {
                if (response is not null && !carried)
                {
                    // A single response too large to ride in the trailers: sent now as far as it goes, the rest queued for
                    // the connection's sender (with its builder) rather than waited for here; the trailers queue behind it.
                    if (Connection.IsCurrentReader)
                    {
                        Connection.SendMessage(response, StreamId, endStream: false); // deferred if it cannot go (never waits there)
                    }
                    else
                    {
                        if (Connection.SendMessageOrQueue(response, StreamId, endStream: false, CancellationToken.None) is { } queued)
                        {
                            // Nobody awaits it (the trailers queue behind it): it fails only when the connection ended, which
                            // the call's end already says (the client's calls end Unavailable). Observed, so that failure is
                            // not reported as an unobserved task exception.
                            responseQueued = true;
                            Observe(queued);
                        }
                    }
                }
                var builder = trailers ?? response!;
                if (trailers is null)
                {
                    CallConnection.StartCarrierFrame(builder, FrameType.Trailers, FrameFlags.None, StreamId);
                }
                else
                {
                    Frame.WriteHeader(builder.Reserve(Frame.HeaderLength), FrameType.Trailers, FrameFlags.None, StreamId);
                }
                builder.WriteInt32((int)status.StatusCode);
                builder.WriteLongString(status.Detail ?? "");
                MetadataCodec.Write(builder, _responseTrailers);
                if (writeInProgress is not null)
                {
                    SendTrailersAfter(writeInProgress, builder.Written);
                    endLater = true;
                }
                else
                {
                    // Never waits for a client that does not read (frozen or hostile): the handler has returned, and its
                    // thread (a pool thread) would be held for as long, one per call. If the trailers cannot go now they
                    // are queued for the connection's sender.
                    SendTrailersFrame(builder.Written);
                }
            }
            catch (Exception e) when (ConnectionErrors.IsLoss(e))
            {
                // The client went away meanwhile: nobody to tell.
            }
            finally
            {
                if (trailers is not null)
                {
                    FrameBuilder.Return(trailers);
                }
            }
        }
        if (response is not null && !responseQueued)
        {
            FrameBuilder.Return(response); // a queued one is the connection's now
        }
        if (!endLater)
        {
            EndCancellation();
        }
    }

    /// <summary>
    /// The call is over here: its deadline timer stops and its token source is disposed (fired first when the client left
    /// before the handler returned). After the trailers, or, when the handler left a write in progress, after that write:
    /// until then the token still ends the write's wait (the client's Cancel, the deadline).
    /// </summary>
    private void EndCancellation()
    {
        Volatile.Write(ref _finished, 1);
        _deadlineTimer?.Dispose();
        if (Volatile.Read(ref _cancellation) is { } source)
        {
            if (ClientGone && !source.IsCancellationRequested)
            {
                // The client left and the handler returned before the pool ran CancelSafely (which now sees _finished and
                // does nothing): fire the token here, so a write the handler left waiting with it (a task still writing)
                // stops waiting, as the token promised. The token is cancelled at once; its callbacks (the handler's
                // own registrations) run on the pool, not here (this may be the reader thread), and the source is
                // disposed after them (disposed first, it would drop them).
                source.CancelAsync().ContinueWith(static (cancelled, s) => ((ServerCallBase)s!).AfterLateCancel(cancelled), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
            else
            {
                source.Dispose();
            }
        }
    }

    /// <summary>
    /// The handler returned while a write it did not await was still in progress (its message queued or deferred): the
    /// trailers (a copy) go once that write ended, so they follow its message, on the thread that ends it (never waiting).
    /// </summary>
    private void SendTrailersAfter(Task write, ReadOnlySpan<byte> trailers)
    {
        var copy = System.Buffers.ArrayPool<byte>.Shared.Rent(trailers.Length);
        trailers.CopyTo(copy);
        write.ContinueWith(
            static (_, s) =>
            {
                var (call, bytes, length) = ((ServerCallBase, byte[], int))s!;
                try
                {
                    if (!call.ClientGone)
                    {
                        call.SendTrailersFrame(bytes.AsSpan(0, length));
                    }
                }
                catch (Exception e) when (ConnectionErrors.IsLoss(e))
                {
                    // The client went away meanwhile: nobody to tell.
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(bytes);
                    call.EndCancellation();
                }
            },
            (this, copy, trailers.Length),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Observes a send nobody awaits, so its failure (the connection's end) is not an unobserved task exception.</summary>
    private static void Observe(Task send)
        => send.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>
    /// Sends the call's Trailers frame without waiting (<see cref="CallConnection.SendFrameWithoutWaiting"/>). Trailers whose
    /// header block is over <see cref="CallConnection.MaxMetadataSize"/> are refused before anything of them is sent: the
    /// client gets Trailers <c>ResourceExhausted</c> saying so, without the trailers (and without a response they carried).
    /// </summary>
    private void SendTrailersFrame(ReadOnlySpan<byte> frame)
    {
        try
        {
            Connection.SendFrameWithoutWaiting(frame);
        }
        catch (RpcException e)
        {
            var builder = FrameBuilder.Rent();
            try
            {
                Frame.WriteHeader(builder.Reserve(Frame.HeaderLength), FrameType.Trailers, FrameFlags.None, StreamId);
                builder.WriteInt32((int)e.StatusCode);
                builder.WriteLongString(e.Status.Detail);
                MetadataCodec.Write(builder, null);
                Connection.SendFrameWithoutWaiting(builder.Written);
            }
            finally
            {
                FrameBuilder.Return(builder);
            }
        }
    }

    /// <summary>After Finish's late cancel ran the token's callbacks: logs what they threw (as CancelSafely), disposes the source.</summary>
    private void AfterLateCancel(Task cancelled)
    {
        if (cancelled.Exception is { } e)
        {
            Connection.Log.CancellationCallbackFailed(e, _method);
        }
        _cancellation!.Dispose();
    }

    protected override string MethodCore => _method;

    protected override string HostCore => _host;

    protected override string PeerCore => "iic:" + _host;
}
