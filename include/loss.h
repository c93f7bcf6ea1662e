/* loss: softmax cross-entropy over a batch of logits, numerically stable; its value, its
 * gradient with respect to the logits, and the count of correct predictions. */
#ifndef MPITRAIN_LOSS_H
#define MPITRAIN_LOSS_H

#include <stdint.h>

/* For rows of `classes` logits with integer labels: adds each row's -log softmax[label] to
 * *loss_sum and each row whose largest logit is at its label to *correct. When dlogits is not
 * NULL, writes softmax - onehot(label) into it: the gradient of the SUM of the rows' losses
 * (divide by the batch size for the mean). dlogits may be the logits array itself. */
void loss_softmax_xent(const float *logits, const uint8_t *labels, int rows, int classes,
                       float *dlogits, double *loss_sum, long *correct);

/* The index of the largest of `classes` values (the first one on ties): the predicted class. */
int loss_argmax(const float *row, int classes);

#endif
