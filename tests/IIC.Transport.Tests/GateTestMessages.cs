using System.Buffers.Binary;

namespace IIC.Transport.Tests;

/// <summary>
/// The 32-byte messages the role-gate tests race: sender and sequence, then a pattern derived from both, so a torn or
/// interleaved write shows when the receiver checks it.
/// </summary>
internal static class GateTestMessages
{
    public static byte[] Message(int sender, int sequence)
    {
        var message = new byte[32];
        BinaryPrimitives.WriteInt32LittleEndian(message, sender);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(4), sequence);
        for (var j = 8; j < 32; j++)
        {
            message[j] = (byte)(sender + sequence + j);
        }
        return message;
    }

    /// <summary>
    /// Receives everything queued on <paramref name="channel"/>, checking each message whole and the owner's (sender 1)
    /// in order from 0; <paramref name="intruderSequence"/>, if given, is the only sequence another sender may carry.
    /// Returns how many of the owner's and how many in all arrived.
    /// </summary>
    public static (int Owner, int Received) DrainAndCheck(IicChannel channel, byte[] buffer, int? intruderSequence = null)
    {
        var owner = 0;
        var received = 0;
        while (channel.TryReceive(buffer, out var length))
        {
            Assert.Equal(32, length);
            var sender = BinaryPrimitives.ReadInt32LittleEndian(buffer);
            var sequence = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(4));
            for (var j = 8; j < 32; j++)
            {
                Assert.Equal((byte)(sender + sequence + j), buffer[j]); // torn or interleaved writes show here
            }
            if (sender == 1)
            {
                Assert.Equal(owner++, sequence); // the owner's messages, each once, in order
            }
            else if (intruderSequence is { } expected)
            {
                Assert.Equal(expected, sequence);
            }
            received++;
        }
        return (owner, received);
    }
}
