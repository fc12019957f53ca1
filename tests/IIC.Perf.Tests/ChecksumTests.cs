using System.Buffers.Binary;
using IIC.Perf.Core;

namespace IIC.Perf.Tests;

/// <summary>
/// "Every byte is read" (perf/IIC.Perf/README.md): the checksum covers every byte, and the harness's real receivers
/// (the one-way sink and the echo server, on each of their receive paths) reject a message with one byte changed.
/// </summary>
public sealed class ChecksumTests
{
    /// <summary>Sizes on both sides of the vector loops (32, 128 bytes), with a tail shorter than a word, and with several stamped strides.</summary>
    public static TheoryData<int> Sizes => new() { 8, 13, 32, 100, 255, 300, 1029, 4096 };

    /// <summary>The receive paths by their command-line names (the API enum is internal to the harness).</summary>
    public static TheoryData<string> SinkApis => new() { "receive", "poll" };

    public static TheoryData<string> EchoApis => new() { "receive", "poll-claim" };

    [Fact]
    public void Sum_MatchesTheWordSumPlusTailBytes_AtEveryLengthAndOffset()
    {
        var random = new Random(17);
        var data = new byte[1100];
        random.NextBytes(data);
        for (var length = 0; length <= 600; length++)
        {
            foreach (var start in new[] { 0, 1, 7 })
            {
                var span = data.AsSpan(start, length);
                Assert.Equal(WordSum(span), PayloadChecksum.Sum(span));
            }
        }
        Assert.Equal(WordSum(data), PayloadChecksum.Sum(data));
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Sum_ChangesWhenAnyOneByteChanges(int size)
    {
        var message = ScriptedEndpoint.Message(size, 12345);
        var intact = PayloadChecksum.Sum(message);
        for (var i = 0; i < size; i++)
        {
            message[i] ^= 0x10;
            Assert.NotEqual(intact, PayloadChecksum.Sum(message));
            message[i] ^= 0x10;
        }
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Verify_RejectsEveryOneByteCorruption_AndAcceptsTheIntactMessage(int size)
    {
        MessageStamp.Verify(ScriptedEndpoint.Message(size, 7), size, 7);
        for (var i = 0; i < size; i++)
        {
            var corrupted = ScriptedEndpoint.Corrupted(size, 7, i);
            Assert.False(MessageStamp.IsIntact(corrupted, 7), $"byte {i} of {size}");
            Assert.Throws<InvalidDataException>(() => MessageStamp.Verify(corrupted, size, 7));
        }
    }

    [Fact]
    public void Verify_RejectsAStaleStampInAnyStride()
    {
        // A stride left over from the previous message (its stamp one lower) must not pass: the sum differs by a
        // multiple of the sequence difference.
        const int size = 4096;
        for (var offset = 0; offset < size; offset += MessageStamp.StampStride)
        {
            var message = ScriptedEndpoint.Message(size, 1000);
            BinaryPrimitives.WriteInt64LittleEndian(message.AsSpan(offset), 999);
            Assert.False(MessageStamp.IsIntact(message, 1000), $"stale stamp at {offset}");
        }
    }

    [Theory]
    [MemberData(nameof(SinkApis))]
    public void Sink_CountsAndAcknowledgesAnIntactRun(string api)
    {
        const int size = 300;
        var endpoint = new ScriptedEndpoint(
            [ScriptedEndpoint.Message(size, MessageStamp.Mark), .. Enumerable.Range(0, 5).Select(s => ScriptedEndpoint.Message(size, s)), ScriptedEndpoint.Message(size, MessageStamp.Stop)]);

        var report = Receivers.Sink(endpoint, size, api);

        Assert.Equal(5, report.Messages);
        Assert.Equal(0, endpoint.Left);
        Assert.Equal(2, endpoint.Sent.Count); // one acknowledgement for the Mark, one for the Stop
        Assert.All(endpoint.Sent, ack => MessageStamp.Verify(ack, size, MessageStamp.Ack));
    }

    [Theory]
    [MemberData(nameof(SinkApis))]
    public void Sink_RejectsAMessageWithAnyOneByteCorrupted(string api)
    {
        foreach (var size in new[] { 32, 300 })
        {
            for (var position = 0; position < size; position++)
            {
                var endpoint = new ScriptedEndpoint(
                    [ScriptedEndpoint.Message(size, MessageStamp.Mark), ScriptedEndpoint.Message(size, 0), ScriptedEndpoint.Corrupted(size, 1, position), ScriptedEndpoint.Message(size, 2), ScriptedEndpoint.Message(size, MessageStamp.Stop)]);

                var error = Assert.Throws<InvalidDataException>(() => Receivers.Sink(endpoint, size, api));

                Assert.Contains("verification failed", error.Message, StringComparison.Ordinal);
                Assert.Equal(2, endpoint.Left); // it stopped at the corrupted message
            }
        }
    }

    [Theory]
    [MemberData(nameof(SinkApis))]
    public void Sink_RejectsALargeMessageWithOneByteCorrupted_AnywhereInIt(string api)
    {
        const int size = 64 << 10;
        foreach (var position in new[] { 0, 9, 255, 256, 4095, 4096, 40_001, size - 9, size - 1 })
        {
            var endpoint = new ScriptedEndpoint([ScriptedEndpoint.Message(size, MessageStamp.Mark), ScriptedEndpoint.Corrupted(size, 0, position), ScriptedEndpoint.Message(size, MessageStamp.Stop)]);
            Assert.Throws<InvalidDataException>(() => Receivers.Sink(endpoint, size, api));
        }
    }

    [Theory]
    [MemberData(nameof(SinkApis))]
    public void Sink_RejectsADuplicateAndALoss(string api)
    {
        const int size = 32;
        byte[] Stamped(long s) => ScriptedEndpoint.Message(size, s);
        var duplicate = new ScriptedEndpoint([Stamped(MessageStamp.Mark), Stamped(0), Stamped(1), Stamped(1), Stamped(MessageStamp.Stop)]);
        var loss = new ScriptedEndpoint([Stamped(MessageStamp.Mark), Stamped(0), Stamped(2), Stamped(MessageStamp.Stop)]);

        Assert.Throws<InvalidDataException>(() => Receivers.Sink(duplicate, size, api));
        Assert.Throws<InvalidDataException>(() => Receivers.Sink(loss, size, api));
    }

    [Theory]
    [MemberData(nameof(EchoApis))]
    public void Echo_SendsBackEveryMessageIntact(string api)
    {
        const int size = 100;
        long[] sequence = [MessageStamp.Mark, 0, 1, 2, MessageStamp.Stop];
        var endpoint = new ScriptedEndpoint(sequence.Select(s => ScriptedEndpoint.Message(size, s)));

        var report = Receivers.Echo(endpoint, size, api);

        Assert.Equal(3, report.Messages);
        Assert.Equal(sequence.Length, endpoint.Sent.Count); // control messages are echoed too
        for (var i = 0; i < sequence.Length; i++)
        {
            MessageStamp.Verify(endpoint.Sent[i], size, sequence[i]);
        }
    }

    [Theory]
    [MemberData(nameof(EchoApis))]
    public void Echo_RejectsAMessageWithAnyOneByteCorrupted_BeyondItsFirstWord(string api)
    {
        // The echo server takes the sequence from the message's first word (the client checks it against the one it
        // sent), so a change there is the client's to catch; every other byte is the server's.
        foreach (var size in new[] { 16, 32, 300 })
        {
            for (var position = sizeof(long); position < size; position++)
            {
                var endpoint = new ScriptedEndpoint(
                    [ScriptedEndpoint.Message(size, MessageStamp.Mark), ScriptedEndpoint.Message(size, 0), ScriptedEndpoint.Corrupted(size, 1, position), ScriptedEndpoint.Message(size, MessageStamp.Stop)]);

                Assert.Throws<InvalidDataException>(() => Receivers.Echo(endpoint, size, api));

                Assert.Equal(2, endpoint.Sent.Count); // the corrupted message was not echoed
                Assert.Equal(1, endpoint.Left);
            }
        }
    }

    [Theory]
    [MemberData(nameof(SinkApis))]
    public void Sink_RejectsAMessageOfTheWrongLength(string api)
    {
        // 296 bytes cut from a 300-byte message are themselves a well-formed 296-byte message (the same stamped
        // words): only the length the run agreed on tells them apart.
        const int size = 300;
        var truncated = ScriptedEndpoint.Message(size, 0).AsSpan(0, 296).ToArray();
        Assert.True(MessageStamp.IsIntact(truncated, 0));
        var endpoint = new ScriptedEndpoint([ScriptedEndpoint.Message(size, MessageStamp.Mark), truncated, ScriptedEndpoint.Message(size, MessageStamp.Stop)]);

        Assert.Throws<InvalidDataException>(() => Receivers.Sink(endpoint, size, api));
    }

    [Theory]
    [MemberData(nameof(EchoApis))]
    public void Echo_RejectsAMessageOfTheWrongLength_AndEchoesNothingOfIt(string api)
    {
        // Round 15: the echo server checks the run's length too (it checked sums only, and a well-formed shorter message
        // passed it; the client would have caught it, but a receiver should not pass on what the run did not agree on).
        const int size = 300;
        var truncated = ScriptedEndpoint.Message(size, 1).AsSpan(0, 296).ToArray();
        Assert.True(MessageStamp.IsIntact(truncated, 1));
        var endpoint = new ScriptedEndpoint([ScriptedEndpoint.Message(size, MessageStamp.Mark), ScriptedEndpoint.Message(size, 0), truncated, ScriptedEndpoint.Message(size, MessageStamp.Stop)]);

        Assert.Throws<InvalidDataException>(() => Receivers.Echo(endpoint, size, api));

        Assert.Equal(2, endpoint.Sent.Count); // the Mark and message 0; nothing of the short one
        Assert.Equal(1, endpoint.Left);
    }

    /// <summary>The checksum as specified, written plainly: little-endian 64-bit words from the start, then each byte of the tail.</summary>
    private static ulong WordSum(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            sum += BinaryPrimitives.ReadUInt64LittleEndian(data[i..]);
        }
        for (; i < data.Length; i++)
        {
            sum += data[i];
        }
        return sum;
    }
}
