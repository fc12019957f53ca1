using IIC.Transport;

namespace IIC.Transport.Tests;

/// <summary>A claim is a struct: a stale copy must not finish the claim opened after it.</summary>
public class ClaimCopyTests
{
    [Fact]
    public void A_stale_copy_of_a_committed_claim_cannot_commit_the_next_claim()
    {
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (first)
        using (second)
        {
            Assert.True(first.TryClaim(1, out var claim));
            var copy = claim;
            claim.Span[0] = 1;
            claim.Commit();
            Assert.True(first.TryClaim(1, out var next));
            next.Span[0] = 2;
            var refused = false;
            try
            {
                copy.Commit(); // the copy's own "done" flag is still false
            }
            catch (InvalidOperationException)
            {
                refused = true;
            }
            Assert.True(refused, "a stale copy committed the next claim");
            next.Commit();
            var buffer = new byte[8];
            Assert.True(second.TryReceive(buffer, out var length));
            Assert.Equal((1, (byte)1), (length, buffer[0]));
            Assert.True(second.TryReceive(buffer, out length));
            Assert.Equal((1, (byte)2), (length, buffer[0]));
        }
    }
}
