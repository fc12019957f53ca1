using System.IO.Pipes;
using Microsoft.Win32.SafeHandles;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.Streams;

/// <summary>
/// Two anonymous pipes, one per direction; a fresh child inherits its ends (handles passed as numbers), a reused
/// child opens them through /proc.
/// </summary>
internal sealed class PipeTransport : IBenchTransport
{
    public string Name => "pipe";

    public string Description => "anonymous pipes, one per direction";

    public IReadOnlyList<string> Modes { get; } = [WaitModes.Block];

    public IReadOnlyList<ReceiveApi> ReceiveApis { get; } = [ReceiveApi.Receive];

    public string? Unavailable() => null;

    public ITransportSession Open(LinkOptions options, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        var toChild = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable);
        try
        {
            var fromChild = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
            return new Session(toChild, fromChild, options.MessageSize);
        }
        catch
        {
            toChild.Dispose();
            throw;
        }
    }

    public IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(arguments);
        var input = OpenEnd(PipeDirection.In, arguments[0]);
        try
        {
            var output = OpenEnd(PipeDirection.Out, arguments[1]);
            return new StreamEndpoint(input, output, options.MessageSize);
        }
        catch
        {
            input.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One end: a fresh child's inherited handle number, or (a reused child) the parent's end opened anew through
    /// <c>/proc/PARENT/fd/N</c> (<see cref="ChildLaunch.ReopenedFrom"/>): the same pipe, the same stream type.
    /// </summary>
    private static AnonymousPipeClientStream OpenEnd(PipeDirection direction, string argument)
    {
        if (!argument.StartsWith(ChildLaunch.ProcPrefix, StringComparison.Ordinal))
        {
            return new AnonymousPipeClientStream(direction, argument);
        }
        using var file = ChildLaunch.OpenDescriptor(argument, direction == PipeDirection.In ? FileAccess.Read : FileAccess.Write);
        var pipe = new SafePipeHandle(file.DangerousGetHandle(), ownsHandle: true);
        file.SetHandleAsInvalid(); // the pipe handle owns the descriptor now
        return new AnonymousPipeClientStream(direction, pipe);
    }

    private sealed class Session(AnonymousPipeServerStream toChild, AnonymousPipeServerStream fromChild, int messageSize) : ITransportSession
    {
        public ChildLaunch Server { get; } = ChildLaunch.Inheriting(toChild.GetClientHandleAsString(), fromChild.GetClientHandleAsString());

        public ChildLaunch? RemoteClient => null;

        // Once the child holds its ends, ours must close: otherwise the child's death would never read as end-of-pipe.
        public void ChildrenStarted()
        {
            toChild.DisposeLocalCopyOfClientHandle();
            fromChild.DisposeLocalCopyOfClientHandle();
        }

        public IMessageEndpoint ConnectClient(RunGuard guard) => new StreamEndpoint(fromChild, toChild, messageSize);

        public void Dispose()
        {
            toChild.Dispose();
            fromChild.Dispose();
        }
    }
}
