using IIC.Hardware;

namespace IIC.Transport.Tests;

/// <summary>
/// Never trust the peer, at message level: a forged fragment sequence or an impossible message length faults the
/// endpoint with a message naming the violation. (The ring-level lies are in IIC.Hardware.Tests' ValidationTests.)
/// </summary>
public sealed class EndpointValidationTests : IDisposable
{
    private readonly SharedWindow _window = SharedWindow.Create(WindowOptions.WithCapacity(1024));

    public void Dispose() => _window.Dispose();

    [Fact]
    public void Corrupt_fragment_sequence_faults_the_endpoint()
    {
        using var a = new WindowEndpoint(_window, 0, WaitStrategy.BusySpin);
        using var b = new WindowEndpoint(_window, 1, WaitStrategy.BusySpin);
        var writer = _window.GetRing(0).CreateWriter(); // a second writer over the same words: the "peer" forging frames
        Assert.True(writer.TryWrite(new byte[16], (int)RecordFraming.End)); // an End with no Begin
        var buffer = new byte[1024];
        var fault = Assert.Throws<RingFaultException>(() => b.TryReceive(buffer, out _, 0));
        Assert.Contains("expected the start of a message", fault.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fragmented_message_claiming_an_impossible_length_faults_the_endpoint()
    {
        using var b = new WindowEndpoint(_window, 1, WaitStrategy.BusySpin);
        var writer = _window.GetRing(0).CreateWriter();
        var begin = new byte[100];
        BitConverter.TryWriteBytes(begin, 50L); // shorter than its own first fragment
        Assert.True(writer.TryWrite(begin, (int)RecordFraming.Begin));
        var fault = Assert.Throws<RingFaultException>(() => b.TryReceive(new byte[4096], out _, 0));
        Assert.Contains("a fragmented message claims 50 bytes", fault.Message, StringComparison.Ordinal);
    }
}
