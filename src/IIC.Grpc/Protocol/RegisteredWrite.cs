namespace IIC.Grpc.Protocol;

/// <summary>
/// A stream write with a cancellation token, as grpc-dotnet takes one on both sides: the token's registration (which
/// cancels the call) is held for as long as the write is in progress and disposed when it ends, however it ends.
/// </summary>
internal static class RegisteredWrite
{
    /// <summary>
    /// Starts <paramref name="write"/> of <paramref name="message"/> on <paramref name="call"/> (a static lambda: no
    /// allocation) and disposes <paramref name="registration"/> when the write is done: at once when it completed
    /// synchronously or threw, else after it completes.
    /// </summary>
    public static Task Run<TCall, TMessage>(TCall call, TMessage message, Func<TCall, TMessage, Task> write, CancellationTokenRegistration registration)
    {
        Task task;
        try
        {
            task = write(call, message);
        }
        catch
        {
            registration.Dispose();
            throw;
        }
        if (task.IsCompleted)
        {
            registration.Dispose();
            return task;
        }
        return UnregisterAfter(task, registration);
    }

    private static async Task UnregisterAfter(Task write, CancellationTokenRegistration registration)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);
        }
    }
}
