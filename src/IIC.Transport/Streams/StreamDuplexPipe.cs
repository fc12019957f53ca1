using System.IO.Pipelines;

namespace IIC.Transport;

/// <summary>An <see cref="IDuplexPipe"/> over a duplex stream (System.IO.Pipelines' stream adapters).</summary>
internal sealed class StreamDuplexPipe(Stream stream) : IDuplexPipe
{
    public PipeReader Input { get; } = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));

    public PipeWriter Output { get; } = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
}
